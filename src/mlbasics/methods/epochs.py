"""The fast epoch engine: a whole epoch is one compiled call (a `tf.while_loop` over its batches, gathered from
tensors made once), Adam runs as TensorFlow's fused kernel, and every source of randomness is drawn from
(seed, epoch), so that a resumed run repeats exactly what an uninterrupted one does."""

from __future__ import annotations

import numpy as np

from mlbasics.core.tasks import history_columns


def reset_dropout_seeds(model, seed: int, epoch: int) -> None:
    """Dropout masks depend only on (seed, epoch, layer, step): a resumed run draws the same ones."""
    for i, layer in enumerate(model.layers):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            generator.state.assign(np.array([seed * 7919 + epoch, i], dtype=generator.state.dtype))


def _metric_sum(task: str, y, y_pred, w=None):
    """The task's metric summed over a batch (weighted by `w`): correct predictions, or absolute errors."""
    import tensorflow as tf

    y_pred = tf.cast(y_pred, tf.float32)
    if task == "regression":
        hits = tf.abs(tf.cast(y, tf.float32) - y_pred[:, 0])
    elif task == "binary":  # Keras' binary accuracy: the threshold is 0.5
        hits = tf.cast(tf.equal(y_pred[:, 0] > 0.5, tf.cast(y, tf.float32) > 0.5), tf.float32)
    else:
        hits = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1), tf.cast(y, tf.int64)), tf.float32)
    if w is not None:
        hits = hits * w
    return tf.reduce_sum(tf.cast(hits, tf.float64))


def fused_adam(optimizer):
    """Adam's update as TensorFlow's fused kernel (ResourceApplyAdam: one op per variable, where Keras' Adam
    runs a dozen), on the optimizer's own moment variables, so checkpoints and resumes are unchanged; None
    when the optimizer is anything else or uses a feature the kernel lacks. Same formula as Keras' Adam."""
    import keras
    import tensorflow as tf

    plain = (
        type(optimizer) is keras.optimizers.Adam
        and not optimizer.amsgrad
        and not optimizer.use_ema
        and not optimizer.weight_decay
        and not optimizer.gradient_accumulation_steps
        and optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and optimizer.loss_scale_factor is None
    )
    if not plain:
        return None
    # Keras' optimizer internals the kernel works on (the moment variables `_momentums`, `_velocities` appear when
    # the optimizer is built; tests/test_train.py pins them all to Keras' own update): another Keras may lack them
    private = ("_trainable_variables", "_get_current_learning_rate", "_get_variable_index")
    missing = [name for name in private if not hasattr(optimizer, name)]
    if missing:
        print(
            f"Keras {keras.__version__}'s Adam has no {', '.join(missing)}: Adam runs as Keras' own update "
            "(the same formula, slower; the bytes of a run may differ from the fused kernel's)",
            flush=True,
        )
        return None
    if not all(v.dtype == "float32" for v in optimizer._trainable_variables):
        return None

    def apply(grads, variables) -> None:
        lr = tf.cast(optimizer._get_current_learning_rate(), tf.float32)
        step = tf.cast(optimizer.iterations + 1, tf.float32)
        beta_1, beta_2 = optimizer.beta_1, optimizer.beta_2
        for variable, grad in zip(variables, grads, strict=True):
            i = optimizer._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.value.handle,
                m=optimizer._momentums[i].value.handle,
                v=optimizer._velocities[i].value.handle,
                beta1_power=tf.pow(beta_1, step),
                beta2_power=tf.pow(beta_2, step),
                lr=lr,
                beta1=beta_1,
                beta2=beta_2,
                epsilon=optimizer.epsilon,
                grad=tf.cast(grad, tf.float32),
            )
        optimizer.iterations.assign_add(1)

    return apply


def _batches(n, batch_size: int, body, initial):
    """tf.while_loop over the batches [i * batch_size, min(n, (i + 1) * batch_size)); `body(start, stop,
    *state)` returns the new state. One iteration at a time: each reads the variables the last one wrote."""
    import tensorflow as tf

    steps = (n + batch_size - 1) // batch_size

    def step(i, *state):
        start = i * batch_size
        return (i + 1, *body(start, tf.minimum(start + batch_size, n), *state))

    return tf.while_loop(lambda i, *_: i < steps, step, (tf.constant(0), *initial), parallel_iterations=1)[1:]


class EpochLoop:
    """One epoch of training, and one pass over validation data, each a single compiled call returning
    (mean loss, mean metric) - the loss as Keras reports it (regularisation included), the metric by task.
    With sample weights `w` both are weighted means (Keras' sample_weight); without, the graph has no weights."""

    def __init__(self, model, task: str, batch_size: int, eval_batch_size: int):
        import tensorflow as tf

        optimizer, variables = model.optimizer, model.trainable_variables
        optimizer.build(variables)  # its variables must exist before the loop is traced
        apply = fused_adam(optimizer) or optimizer.apply
        zero = tf.constant(0.0, tf.float64)

        def train_batch(x, y, w, order, start, stop, loss_sum, metric_sum):
            index = order[start:stop]
            xb, yb = tf.gather(x, index), tf.gather(y, index)
            wb = None if w is None else tf.gather(w, index)
            with tf.GradientTape() as tape:
                y_pred = model(xb, training=True)
                loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, sample_weight=wb, training=True)
                scaled = optimizer.scale_loss(loss)  # mixed precision: Keras' loss scaling
            apply(tape.gradient(scaled, variables), variables)
            return add(loss_sum, metric_sum, loss, yb, y_pred, wb)

        def eval_batch(x, y, w, start, stop, loss_sum, metric_sum):
            xb, yb = x[start:stop], y[start:stop]
            wb = None if w is None else w[start:stop]
            y_pred = model(xb, training=False)
            loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, sample_weight=wb, training=False)
            return add(loss_sum, metric_sum, loss, yb, y_pred, wb)

        def add(loss_sum, metric_sum, loss, y, y_pred, w):
            """The batch's share of the sums: its mean loss times its rows, its summed (weighted) metric."""
            count = tf.cast(tf.shape(y)[0], tf.float64)
            return loss_sum + tf.cast(loss, tf.float64) * count, metric_sum + _metric_sum(task, y, y_pred, w)

        def means(n, sums, w=None):
            total_weight = tf.cast(n, tf.float64) if w is None else tf.reduce_sum(tf.cast(w, tf.float64))
            return [total / total_weight for total in sums]

        @tf.function(reduce_retracing=True, autograph=False)  # explicit loops: nothing to convert
        def train(x, y, order, w=None):
            n = tf.shape(order)[0]
            return means(n, _batches(n, batch_size, lambda *a: train_batch(x, y, w, order, *a), (zero, zero)), w)

        @tf.function(reduce_retracing=True, autograph=False)  # explicit loops: nothing to convert
        def evaluate(x, y, w=None):
            n = tf.shape(y)[0]
            return means(n, _batches(n, eval_batch_size, lambda *a: eval_batch(x, y, w, *a), (zero, zero)), w)

        self.train, self.evaluate = train, evaluate


class KerasEpochs:
    """EpochLoop's interface over Keras' own fit and evaluate: for a distribution strategy (several GPUs),
    whose per-replica step Keras already writes."""

    def __init__(self, model, task: str, batch_size: int, eval_batch_size: int):
        self.model, self.batch_size, self.eval_batch_size = model, batch_size, eval_batch_size
        self.keys = history_columns(task)[1:3]  # loss, and the metric's name

    def train(self, x, y, order, w=None):
        import tensorflow as tf

        batches = tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size)
        if w is None:
            data = batches.map(lambda i: (tf.gather(x, i), tf.gather(y, i)))
        else:
            data = batches.map(lambda i: (tf.gather(x, i), tf.gather(y, i), tf.gather(w, i)))
        history = self.model.fit(data.prefetch(tf.data.AUTOTUNE), epochs=1, verbose=0, shuffle=False).history
        return [history[key][-1] for key in self.keys]

    def evaluate(self, x, y, w=None):
        scores = self.model.evaluate(
            x, y, sample_weight=w, batch_size=self.eval_batch_size, verbose=0, return_dict=True
        )
        return [scores[key] for key in self.keys]


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """This epoch's shuffle: a permutation from (seed, epoch) alone, so a resumed run draws the same one."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)
