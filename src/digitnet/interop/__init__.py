"""digitnet models in other people's tools: ONNX files out and in, and a scikit-learn estimator.

Each needs an optional extra, imported only when used: ``pip install 'digitnet[onnx]'`` for
:mod:`~digitnet.interop.onnx_export` and :mod:`~digitnet.interop.onnx_import`, ``'digitnet[sklearn]'``
for :mod:`digitnet.sklearn`.
"""

from digitnet.interop.onnx_export import export_onnx
from digitnet.interop.onnx_import import import_onnx

__all__ = ["export_onnx", "import_onnx"]
