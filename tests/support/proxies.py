"""Small servers on 127.0.0.1 that tests put between the bot and what it talks to.

- `Relay`: a TCP relay that a test can cut and restore (a database that goes away).
- `HttpProxy`: an HTTP proxy, forwarding absolute-form requests and tunnelling CONNECT.
- `Socks5Proxy`: a SOCKS5 proxy (no authentication, CONNECT only).
- `TlsFront`: TLS in front of a plain HTTP server (a Bot API at an https:// address).

Each counts what it carried. `hosts` maps names to addresses only the proxy knows, so a bot
that reaches such a name can only have come through the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import struct
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class RequestSniffer:
    """Counts the HTTP/1.1 requests in a plain byte stream from client to server."""

    def __init__(self, seen: list[str], prefix: str = "") -> None:
        self.seen = seen
        self.prefix = prefix
        self._buffer = b""
        self._body_left = 0

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._body_left:
                taken = min(self._body_left, len(self._buffer))
                self._buffer = self._buffer[taken:]
                self._body_left -= taken
                if self._body_left:
                    return
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buffer[:end].decode("latin-1").split("\r\n")
            self._buffer = self._buffer[end + 4 :]
            method, target, _ = head[0].split(" ", 2)
            self.seen.append(f"{method} {self.prefix}{target}")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])
            }
            if "chunked" in headers.get("transfer-encoding", ""):
                raise ValueError("chunked request bodies are not followed by the sniffer")
            self._body_left = int(headers.get("content-length", "0"))


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sniffer: RequestSniffer | None
) -> None:
    try:
        while data := await reader.read(65536):
            if sniffer is not None:
                sniffer.feed(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class _Server:
    """A listening socket on 127.0.0.1 and the connections it has open."""

    hosts: dict[str, str] = field(default_factory=dict)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    ssl_context: ssl.SSLContext | None = None

    async def start(self) -> int:
        """Listen (on the same port as before, if it was started once); return the port."""
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def address(self, host: str) -> str:
        return self.hosts.get(host, host)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self.serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def tunnel(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        port: int,
        sniffer: RequestSniffer | None = None,
    ) -> None:
        """Carry bytes both ways between the client and host:port until either side ends."""
        up_reader, up_writer = await asyncio.open_connection(self.address(host), port)
        self._writers.add(up_writer)
        try:
            await asyncio.gather(_pipe(reader, up_writer, sniffer), _pipe(up_reader, writer, None))
        finally:
            self._writers.discard(up_writer)


@dataclass
class Relay(_Server):
    """Every connection relayed to one target: cut it with close(), restore it with start()."""

    target_host: str = "127.0.0.1"
    target_port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.tunnel(reader, writer, self.target_host, self.target_port)


@dataclass
class HttpProxy(_Server):
    """An HTTP proxy: plain requests forwarded one per connection, CONNECT tunnelled."""

    requests: list[str] = field(default_factory=list)
    tunnels: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[:-2]
        method, target, version = head[0].split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            self.tunnels.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self.tunnel(reader, writer, host, int(port))
            return
        url = urlsplit(target)
        if url.scheme != "http" or url.hostname is None:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        self.requests.append(f"{method} {target}")
        hop_by_hop = ("connection", "proxy-connection", "keep-alive")
        headers = [h for h in head[1:] if h.split(":")[0].strip().lower() not in hop_by_hop]
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")),
            0,
        )
        body = await reader.readexactly(length) if length else b""
        path = url.path + (f"?{url.query}" if url.query else "")
        up_reader, up_writer = await asyncio.open_connection(
            self.address(url.hostname), url.port or 80
        )
        self._writers.add(up_writer)
        try:
            forwarded = [f"{method} {path} {version}", *headers, "Connection: close", "", ""]
            up_writer.write("\r\n".join(forwarded).encode("latin-1") + body)
            await up_writer.drain()
            await _pipe(up_reader, writer, None)
        finally:
            self._writers.discard(up_writer)
            up_writer.close()


@dataclass
class Socks5Proxy(_Server):
    """A SOCKS5 proxy without authentication; counts the HTTP requests it carried."""

    requests: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, methods = await reader.readexactly(2)
        if version != 5:
            return
        offered = await reader.readexactly(methods)
        if 0 not in offered:
            writer.write(b"\x05\xff")
            return
        writer.write(b"\x05\x00")
        version, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return
        self.connections.append(f"{host}:{port}")
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        await writer.drain()
        sniffer = RequestSniffer(self.requests, prefix=f"http://{host}:{port}")
        await self.tunnel(reader, writer, host, port, sniffer)


@dataclass
class TlsFront(_Server):
    """HTTPS in front of a plain HTTP server: TLS ends here; counts the requests it carried."""

    target_port: int = 0
    requests: list[str] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.tunnel(
            reader, writer, "127.0.0.1", self.target_port, RequestSniffer(self.requests)
        )


API_HOST = "api.telegram.test"  # .test never resolves: only the proxy knows this name


def carried_methods(requests: list[str]) -> list[str]:
    """Bot API methods among `METHOD URL` lines (a file download is `file`)."""
    methods = []
    for line in requests:
        path = urlsplit(line.split(" ", 1)[1]).path
        methods.append("file" if path.startswith("/file/bot") else path.rsplit("/", 1)[-1])
    return methods
