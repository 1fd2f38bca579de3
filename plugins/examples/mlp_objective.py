"""A custom objective: scikit-learn's ``MLPClassifier`` trained epoch by epoch (docs/plugins.md).

Use it with ``objective: "examples.mlp_objective:mlp_classifier"`` on a
classification dataset. Each trial samples its params from the trial handle,
trains one network per CV fold side by side with ``partial_fit`` (one epoch per
call), reports the folds' mean validation score after every epoch and stops
as soon as the pruner says so. The refit (``data.refit``) trains one network
on the whole training split for the trial's epochs and returns it, with its
scaler, as a scikit-learn pipeline (stored with joblib).

An epoch of ``partial_fit`` is one pass of Adam's mini-batches (a couple of steps on
a few hundred rows), so a learning rate below about 1e-2, half of the log range
sampled here, learns little in a few epochs: the median pruner stops those early.
scikit-learn is imported inside the function: airsweep imports every module of
the plugins folder at DAG parse time.
"""

from __future__ import annotations

from typing import Any

from airsweep.objective import ObjectiveData, TrialHandle, score


def mlp_classifier(trial: TrialHandle, data: ObjectiveData) -> Any:
    """Train an MLP classifier epoch by epoch; its mean CV score, or in a refit the model."""
    import numpy as np
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if data.task_type != "classification":
        raise ValueError(f"mlp_classifier needs a classification task, not {data.task_type}")
    params = {
        "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1.0, log=True),
        "hidden_layer_sizes": (trial.suggest_int("hidden_units", 8, 64, log=True),),
        "alpha": trial.suggest_float("alpha", 1e-6, 1e-2, log=True),
    }
    epochs = trial.suggest_int("epochs", 4, 12)
    classes = np.asarray(data.classes)

    def network() -> MLPClassifier:
        return MLPClassifier(random_state=data.seed, **params)

    if data.refit:
        scaler, model = StandardScaler(), network()
        X = scaler.fit_transform(data.X)
        for _ in range(epochs):
            model.partial_fit(X, data.y, classes=classes)
        return make_pipeline(scaler, model)

    folds = []
    for train_idx, valid_idx in data.folds:
        scaler = StandardScaler().fit(data.X.iloc[train_idx])
        folds.append(
            (
                network(),
                scaler.transform(data.X.iloc[train_idx]),
                data.y.iloc[train_idx],
                scaler.transform(data.X.iloc[valid_idx]),
                data.y.iloc[valid_idx],
            )
        )
    mean = float("nan")
    for epoch in range(epochs):
        scores = []
        for model, X_train, y_train, X_valid, y_valid in folds:
            model.partial_fit(X_train, y_train, classes=classes)
            scores.append(score(model, X_valid, y_valid, data.metric))
        mean = float(np.mean(scores))
        trial.report(mean, epoch)
        if trial.should_prune():
            break  # the trial is pruned: what it returns now does not count
    return mean
