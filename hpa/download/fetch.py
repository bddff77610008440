"""One image file from a flaky server: timeouts, retries with backoff, a bounded body, a checked decode.

:func:`fetch_file` brings ``url`` to ``path`` or says why it could not:

* an existing ``path`` that decodes is kept (a resumed run skips it); one
  that does not decode (a truncated copy from another tool) is fetched again;
* a connection error, a timeout, HTTP 429 or 5xx, a body shorter than its
  ``Content-Length`` or one that does not decode as an image is retried up
  to ``retries`` times, waiting ``backoff * 2**k`` seconds before retry k
  (capped at :data:`MAX_WAIT`), since a busy server needs time, not more load;
* 404 (and 410) mean the image is not there: :class:`Missing`, no retry;
* a body larger than ``max_bytes`` is refused as it streams in, so a server
  sending endless bytes costs at most ``max_bytes`` of memory;
* the file is written atomically (:func:`minidl.atomic.atomic_path`): a
  stop at any moment leaves the old file or the new complete one.

``stop`` (a :class:`threading.Event`) is checked between chunks and during
the waits, so that Ctrl-C ends every worker thread within one read timeout.
"""
import http.client
import io
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from PIL import Image

from minidl.atomic import atomic_path

MAX_WAIT = 60.0        # seconds: the longest wait between two tries
_CHUNK = 1 << 16
_USER_AGENT = "hpa.download_hpav18 (python urllib)"
_GONE = (404, 410)
# atomic_path learns the umask by setting it and back, which is process-wide:
# two threads inside it at once can give a file the other's momentary umask 0.
_WRITE_LOCK = threading.Lock()


@dataclass(frozen=True)
class FetchOptions:
    """timeout    seconds one connection or read may block
    retries    further tries after a failed one
    backoff    seconds before the first retry; doubled for each next one
    max_bytes  largest body accepted (the HPAv18 JPEGs are about 0.05-0.6 MB)
    deadline   seconds one whole request may take: a server trickling a
               byte now and then never trips ``timeout``
    """
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 1.0
    max_bytes: int = 32 << 20
    deadline: float = 300.0


class Missing(Exception):
    """The server says the image does not exist (404/410): no retry."""


class FetchFailed(Exception):
    """Every try failed; the message gives the last reason."""


class Stopped(Exception):
    """``stop`` was set (Ctrl-C/SIGTERM) while this file was in progress."""


class _Retry(Exception):
    """A failure worth another try."""


def decodes(path_or_bytes):
    """True when the file (a path or bytes) is an image that decodes to its last byte.

    ``draft`` lets a JPEG decode at 1/8 scale: all of its entropy-coded
    data is still read, so a truncated file is still caught, 10x faster.
    """
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    try:
        with Image.open(source) as im:
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
        return True
    except FileNotFoundError:
        return False
    except Exception:  # PIL raises many types for a broken file
        return False


def fetch_file(url, path, options, stop):
    """Make ``path`` a complete copy of ``url``; returns the bytes written (0 when it was already complete).

    Raises :class:`Missing`, :class:`FetchFailed` or :class:`Stopped`.
    """
    if decodes(path):
        return 0
    last = None
    for attempt in range(options.retries + 1):
        if attempt:
            _wait(min(MAX_WAIT, options.backoff * 2 ** (attempt - 1)), stop)
        try:
            body = _get(url, options, stop)
        except _Retry as why:
            last = str(why)
            continue
        if not decodes(body):
            last = f"the body ({len(body):,} bytes) does not decode as an image"
            continue
        with _WRITE_LOCK, atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(body)
        return len(body)
    raise FetchFailed(f"{last} (after {options.retries + 1} tries)")


def _wait(seconds, stop):
    if stop.wait(seconds):
        raise Stopped()


def _get(url, options, stop):
    """The body of ``url`` as bytes; raises :class:`Missing`, :class:`FetchFailed` or :class:`_Retry`."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=options.timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > options.max_bytes:
                raise FetchFailed(f"the server announces {int(declared):,} bytes, more than "
                                  f"--max-bytes {options.max_bytes:,}")
            body = _read_capped(response, options, stop)
    except urllib.error.HTTPError as error:
        if error.code in _GONE:
            raise Missing(f"HTTP {error.code}") from None
        if error.code == 429 or error.code >= 500:
            raise _Retry(f"HTTP {error.code}") from None
        raise FetchFailed(f"HTTP {error.code} {error.reason}") from None
    except http.client.IncompleteRead as error:
        raise _Retry(f"truncated body ({len(error.partial):,} bytes received)") from None
    except (TimeoutError, socket.timeout):
        raise _Retry(f"no answer within --timeout {options.timeout:g} s") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, (TimeoutError, socket.timeout)):
            raise _Retry(f"no answer within --timeout {options.timeout:g} s") from None
        raise _Retry(f"connection failed ({error.reason})") from None
    except (ConnectionError, http.client.HTTPException) as error:
        raise _Retry(f"connection failed ({type(error).__name__}: {error})") from None
    # read(n) returns what came before the connection closed, without the
    # IncompleteRead a whole read() raises: compare with the announced length.
    if declared is not None and declared.isdigit() and len(body) < int(declared):
        raise _Retry(f"truncated body ({len(body):,} of {int(declared):,} bytes)")
    return body


def _read_capped(response, options, stop):
    """Read the body as it arrives; more than ``max_bytes``, or longer than ``deadline``, is refused.

    ``read1`` returns whatever one receive brings, so the checks run between
    receives (a plain ``read(n)`` would wait for all n bytes).
    """
    chunks, size, start = [], 0, time.monotonic()
    while True:
        if stop.is_set():
            raise Stopped()
        if time.monotonic() - start > options.deadline:
            raise _Retry(f"the body took longer than --deadline {options.deadline:g} s "
                         f"({size:,} bytes received)")
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > options.max_bytes:
            raise FetchFailed(f"the body exceeds --max-bytes {options.max_bytes:,} "
                              f"(stopped reading after {time.monotonic() - start:.1f} s)")
        chunks.append(chunk)
