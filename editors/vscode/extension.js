// Starts `netspec lsp` for .net files; everything else is the server's (netspec/lsp/).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate() {
  const [command, ...args] = vscode.workspace
    .getConfiguration("netspec")
    .get("server.command", ["netspec", "lsp"]);
  client = new LanguageClient(
    "netspec",
    "netspec",
    { command, args },
    { documentSelector: [{ language: "netspec" }] },
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
