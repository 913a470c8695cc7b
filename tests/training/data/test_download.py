"""Downloading the archive from a real HTTP server on loopback: progress, retries, checksum."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from training.data.errors import ChecksumError, DownloadError, SourceError
from training.data.sources import download, is_reachable, resolve_source


class ArchiveServer:
    def __init__(
        self, payload: bytes, failures: int = 0, truncate: bool = False, status: int = 503
    ) -> None:
        self.payload, self.failures, self.truncate, self.requests = payload, failures, truncate, 0
        self.status = status
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.requests <= server.failures:
                    self.send_error(server.status, "failed")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.payload)))
                self.end_headers()
                body = (
                    server.payload[: len(server.payload) // 2]
                    if server.truncate
                    else server.payload
                )
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/cifar-100-python.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(small_archive) -> Iterator:
    servers = []

    def start(**kwargs) -> ArchiveServer:
        server = ArchiveServer(small_archive[0].read_bytes(), **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_download_verifies_md5_and_reuses_the_cached_file(serve, small_archive, tmp_path):
    server = serve()
    dest = tmp_path / "cache" / "a.tar.gz"
    assert download(server.url, dest, small_archive[1], progress=False) == dest
    assert dest.read_bytes() == small_archive[0].read_bytes()
    download(server.url, dest, small_archive[1], progress=False)
    assert server.requests == 1  # second call used the verified cache


def test_download_retries_transient_failures(serve, small_archive, tmp_path):
    server = serve(failures=2)
    dest = tmp_path / "a.tar.gz"
    download(server.url, dest, small_archive[1], backoff_s=0.01, progress=False)
    assert server.requests == 3 and dest.is_file()


def test_download_gives_up_with_a_download_error(serve, small_archive, tmp_path):
    server = serve(failures=10)
    dest = tmp_path / "a.tar.gz"
    with pytest.raises(DownloadError, match="after 3 tries"):
        download(server.url, dest, small_archive[1], retries=2, backoff_s=0.01, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_is_retried_then_reported(serve, small_archive, tmp_path):
    server = serve(truncate=True)
    with pytest.raises(DownloadError, match="closed after"):
        download(
            server.url, tmp_path / "a", small_archive[1], retries=1, backoff_s=0.01, progress=False
        )
    assert server.requests == 2


def test_wrong_checksum_deletes_the_download(serve, tmp_path):
    server = serve()
    with pytest.raises(ChecksumError, match=r"expected f{32}"):
        download(server.url, tmp_path / "a.tar.gz", "f" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_url_source_is_downloaded_and_read(serve, small_archive, tmp_path):
    server = serve()
    data = resolve_source(server.url, cache_dir=tmp_path, md5=small_archive[1], progress=False)
    assert len(data.train) == 100 and data.description["location"] == server.url


def test_reachability_probe(serve):
    assert is_reachable(serve().url)
    assert not is_reachable("http://127.0.0.1:9/nothing", timeout=0.5)


def test_only_http_urls_are_downloaded(tmp_path):
    with pytest.raises(SourceError, match="only http"):
        download("ftp://example.org/a.tar.gz", tmp_path / "a", None, progress=False)


def test_client_errors_are_not_retried(serve, small_archive, tmp_path):
    server = serve(failures=10, status=404)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url, tmp_path / "a", small_archive[1], backoff_s=0.01, progress=False)
    assert server.requests == 1
