"""The trained network as plain Keras loads it: copied into every generated Keras module.

A model fitted by the generated module holds the spec's optimizer (netspec's update rule:
a class of the module) and, for some layers, a layer class of the module. `inference_model`
leaves out the optimizer, loss and metrics and calls each such layer's `standard_call`
instead, its computation in Keras' own layers, with its weights; the layers Keras has are
the trained ones, shared. What it saves loads with `keras.models.load_model` alone.
"""

import keras


def standard_layer_call(layer, *args, **kwargs):
    """A layer of the network, called while `inference_model` copies the graph: a layer this
    module defines as its standard-Keras equivalent, any other as itself."""
    if hasattr(layer, "standard_call"):
        return layer.standard_call(*args, **kwargs)
    return layer(*args, **kwargs)


def inference_model(model: keras.Model) -> keras.Model:
    """The trained network for inference alone, in standard Keras layers, with its weights:
    keras.models.load_model reads what it saves (`.save("model.keras")`) without netspec or
    this module; a run's model.keras is it."""
    network = keras.Model(model.input, model.output, name=model.name)  # no optimizer, loss
    return keras.models.clone_model(
        network, clone_function=lambda layer: layer, call_function=standard_layer_call
    )
