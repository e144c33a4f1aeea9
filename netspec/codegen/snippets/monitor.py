"""The rule that says which epoch is the best by a monitored figure: copied into generated
PyTorch modules (early stopping, restore_best) and imported by `netspec train`'s backends
(the best checkpoint), so that every one of them picks the same epoch. It is Keras'
EarlyStopping rule, which the generated Keras modules use."""


def best_epoch(values: list[float], min_delta: float = 0.0, higher: bool = False) -> int:
    """The index of the best of one figure's values, epoch by epoch: the first, then each that
    beats the best so far by more than `min_delta` (upwards when `higher`); on ties the earlier
    stays, and NaN beats nothing. Keras' EarlyStopping counts its patience from the same one."""
    best = 0
    for index in range(1, len(values)):
        value, reference = values[index], values[best]
        if (value - min_delta > reference) if higher else (value + min_delta < reference):
            best = index
    return best
