"""Peak RSS bounded by settings (issue 17, item 3): many concurrent requests of big (decompressing) images stay
under the README's formula, because connections, requests in memory and decoders are capped.

    peak RSS <= RSS_ready + R * (B + 64 * T) + D * (4 * P + 24 * H) + C * 256 KiB

R --max-requests, B --max-body-bytes, T the model input's bytes (3 * 224 * 224 * 4), D --decode-threads, P
--max-pixels, H the image's height (at most P), C --max-connections; RSS_ready is the RSS once ready (the warm-up ran a full batch).
The peak is the kernel's high-water mark (VmHWM), reset once the service is ready (/proc/PID/clear_refs).
"""

import http.client
import io
import os
import threading

from PIL import Image

from test_serve_oip import small_bundle  # noqa: F401 (a fixture)
from test_serve_repository import Service

MIB = 1 << 20
CLIENTS = 24
SIDE = 2000  # a 2000 x 2000 PNG: a few KB on the wire, 16 MB decoded (RGBA)
SETTINGS = {"--max-connections": 32, "--max-requests": 2, "--decode-threads": 1, "--max-batch": 4,
            "--max-body-bytes": 4 * MIB, "--max-pixels": SIDE * SIDE}
INPUT_BYTES = 3 * 224 * 224 * 4


def memory_bound(settings, height):
    decode = 4 * settings["--max-pixels"] + 24 * height
    return (settings["--max-requests"] * (settings["--max-body-bytes"] + 64 * INPUT_BYTES)
            + settings["--decode-threads"] * decode + settings["--max-connections"] * 256 * 1024)


def status_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def big_png():
    image = Image.linear_gradient("L").resize((SIDE, SIDE)).convert("RGBA")  # smooth: compresses well
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def test_serve_peak_rss_of_concurrent_big_images_stays_under_the_formula(small_bundle):  # noqa: F811
    options = [str(v) for item in SETTINGS.items() for v in item]
    server = Service(dict(os.environ), "--bundle", str(small_bundle), *options)
    try:
        pid = server.process.pid
        ready_kib = status_kib(pid, "VmRSS")
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        body = big_png()
        assert len(body) < SETTINGS["--max-body-bytes"]
        statuses, lock = [], threading.Lock()
        barrier = threading.Barrier(CLIENTS)

        def client():
            barrier.wait()
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            for _ in range(2):
                connection.request("POST", "/v1/predict", body=body)
                response = connection.getresponse()
                response.read()
                with lock:
                    statuses.append(response.status)
            connection.close()

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * (2 * CLIENTS)
        peak = status_kib(pid, "VmHWM") * 1024
        bound = ready_kib * 1024 + memory_bound(SETTINGS, SIDE)
        decoded = CLIENTS * 4 * SIDE * SIDE
        print(f"ready {ready_kib / 1024:.0f} MiB, peak {peak / MIB:.0f} MiB, bound {bound / MIB:.0f} MiB")
        assert peak <= bound, f"peak {peak / MIB:.0f} MiB over the bound {bound / MIB:.0f} MiB"
        assert bound - ready_kib * 1024 < decoded, "the bound must be below all images decoded at once"
    finally:
        assert server.stop() == 0


def test_serve_thin_image_within_max_pixels_does_not_allocate_a_row_per_source_row(small_bundle):  # noqa: F811
    """A 1 x 400,000 PNG (2 KB, within --max-pixels) made the resize keep every source row filtered: 400,000 x
    224 x 3 floats, 1 GB of RSS. Now a window of rows: the peak stays under the formula."""
    settings = dict(SETTINGS, **{"--max-pixels": 400_000})
    options = [str(v) for item in settings.items() for v in item]
    server = Service(dict(os.environ), "--bundle", str(small_bundle), *options)
    try:
        pid = server.process.pid
        ready_kib = status_kib(pid, "VmRSS")
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        buffer = io.BytesIO()
        Image.new("RGB", (1, 400_000), (10, 200, 30)).save(buffer, "PNG")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        connection.request("POST", "/v1/predict", body=buffer.getvalue())
        response = connection.getresponse()
        assert response.status == 200, response.read()
        connection.close()
        peak = status_kib(pid, "VmHWM") * 1024
        bound = ready_kib * 1024 + memory_bound(settings, 400_000)
        assert peak <= bound, f"peak {peak / MIB:.0f} MiB over the bound {bound / MIB:.0f} MiB"
    finally:
        assert server.stop() == 0
