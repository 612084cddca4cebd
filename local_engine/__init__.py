"""FramePack on torch via diffusers, from local folders.

diffusers imports onnxruntime while a pipeline is being built (its ONNX helpers, when
onnxruntime is installed), and onnxruntime contacts a telemetry host about 10 s after
its import unless ORT_DISABLE_TELEMETRY is set first: set here, before any of this
package can import diffusers, so that no caller (a GPU worker, `generate`, a bench)
makes a connection nobody asked for.
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
