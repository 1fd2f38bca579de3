"""Custom objectives: the user's training function tuned as a pseudo-family (docs/plugins.md).

* :mod:`~airsweep.custom.loading`: import ``module:function`` (plugins folder
  or installed package), refused in ``setup`` with the module and exception;
* :mod:`~airsweep.custom.trial`: one trial, both sides of the trial process's
  pipe: the handle the function samples, reports and asks the pruner with (in
  the trial process), and the runner's answers (every storage call stays there);
* :mod:`~airsweep.custom.refit`: the best trial refitted in ``finalize`` and stored.

The public API users write against is :mod:`airsweep.objective`.
"""
