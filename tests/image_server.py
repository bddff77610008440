"""A local stand-in for the Atlas image server: http.server in a thread on 127.0.0.1, an ephemeral port.

It serves generated RGB JPEGs in the HPAv18 layout (``/images/<antibody>/<rest>_<colour>.jpg``)
and misbehaves on request. ``script[path]`` is the list of answers to the
successive requests for ``path`` (the last one repeats):

    "ok"         the image (Content-Length set)
    "404"/"500"  that status, no image
    "truncated"  Content-Length of the whole image, then half of it, then the connection closes
    "garbage"    200 with an HTML page instead of an image
    "slow"       waits ``slow_seconds`` before answering (longer than the client's timeout), then the image
    "endless"    200 without Content-Length, then zeros until the client hangs up
    "huge"       announces a Content-Length of 10 GB, sends the image
    "trickle"    the image's Content-Length, then one byte every 20 ms (no read ever times out)

``delay`` slows every answer. After ``free_requests`` requests (None: no limit) every further one
waits until the server stops, so a download cannot finish before a test interrupts it.
``hits[path]`` counts requests.
"""
import contextlib
import http.server
import io
import threading
from collections import Counter

import numpy as np
from PIL import Image

PLANES = {"red": (0,), "green": (1,), "blue": (2,), "yellow": (0, 1)}
COLOURS = tuple(PLANES)


def stain_jpeg(seed, colour, size=64):
    """An RGB JPEG coloured like its stain: the stain's plane(s) hold a random pattern, the others zero."""
    rng = np.random.default_rng(seed)
    plane = (rng.random((size // 8, size // 8)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    rgb = np.zeros((size, size, 3), np.uint8)
    for p in PLANES[colour]:
        rgb[:, :, p] = plane
    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, "JPEG", quality=95)
    return out.getvalue()


def image_path(sample_id, colour):
    antibody, _, rest = sample_id.partition("_")
    return f"/images/{antibody}/{rest}_{colour}.jpg"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        server = self.server
        with server.lock:
            server.hits[self.path] += 1
            answers = server.script.get(self.path, ["ok"])
            action = answers[min(server.hits[self.path], len(answers)) - 1]
            server.served += 1
            stalled = server.free_requests is not None and server.served > server.free_requests
        if stalled:
            server.stopping.wait()
            return
        if server.delay and server.stopping.wait(server.delay):
            return
        body = server.files.get(self.path)
        if body is None or action == "404":
            return self._send(404, b"not found")
        if action == "500":
            return self._send(500, b"server error")
        if action == "garbage":
            return self._send(200, b"<html>maintenance</html>", "text/html")
        if action == "slow" and server.stopping.wait(server.slow_seconds):
            return
        if action == "endless":
            return self._endless()
        if action == "trickle":
            return self._trickle(body)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(10**10 if action == "huge" else len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if action == "truncated" else body)
        if action in ("truncated", "huge"):
            self.close_connection = True

    def _send(self, status, body, kind="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            for k in range(len(body)):
                if self.server.stopping.wait(0.02):
                    break
                self.wfile.write(body[k:k + 1])
                self.wfile.flush()
        self.close_connection = True

    def _endless(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        zeros = bytes(1 << 16)
        with contextlib.suppress(OSError):
            while not self.server.stopping.is_set():
                self.wfile.write(zeros)
        self.close_connection = True


class ImageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, samples, size=64):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = {image_path(s, c): stain_jpeg(4 * k + COLOURS.index(c), c, size)
                      for k, s in enumerate(samples) for c in COLOURS}
        self.script, self.hits = {}, Counter()
        self.delay, self.slow_seconds = 0.0, 5.0
        self.free_requests, self.served = None, 0
        self.lock, self.stopping = threading.Lock(), threading.Event()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/images"


@contextlib.contextmanager
def serving(samples, size=64):
    """Run an :class:`ImageServer` for ``samples`` (Ids) in a thread; yields it."""
    server = ImageServer(samples, size)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
