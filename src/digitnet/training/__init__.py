"""The training wing: settings -> network -> trained, tested model, the one path every front end takes.

* :mod:`~digitnet.training.settings`: the table of training settings, one row each (text form, parser,
  help, range, what None means; a row is a :class:`~digitnet.training.setting.Setting`), from which
  ``digitnet train``'s flags, the sweeps' parsing and the scikit-learn estimator's parameter list are made;
* :mod:`~digitnet.training.config`: ``TrainConfig``, the settings' values, checked together, saved in
  every model file;
* :mod:`~digitnet.training.presets`: named recipes;
* :mod:`~digitnet.training.runs`: a configuration -> its network -> a trained, tested model;
* :mod:`~digitnet.training.progress`: the progress bars while it trains.
"""

from digitnet.training.config import TrainConfig
from digitnet.training.presets import PRESETS, get_preset
from digitnet.training.runs import build_model, train
from digitnet.training.setting import Setting
from digitnet.training.settings import SETTINGS

__all__ = ["PRESETS", "SETTINGS", "Setting", "TrainConfig", "build_model", "get_preset", "train"]
