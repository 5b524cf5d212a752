"""What each task waits on: another thread, a socket, a child process.

One loop (the main thread's), everything on 127.0.0.1; each named task
declares what it waits on with _oracle.expect_waiting() (DIR/waiting.json):

  executor-running  loop.run_in_executor(pool, f) on a 2-worker pool: its
                    worker runs f, blocked in threading.Event.wait()
                    (concurrent future RUNNING, its worker's native id)
  to-thread         asyncio.to_thread(f) on the default executor (1 worker):
                    RUNNING the same way
  executor-pending  loop.run_in_executor(None, f) behind it: PENDING, no thread
  stream-read       StreamReader.read() of asyncio.open_connection() to an
                    asyncio server that never writes (fd, peer: the server)
  server-read       that server's connection task (named by its handler),
                    reading from the client that never writes
  stream-drain      StreamWriter.drain() of a connection to a listening
                    socket nobody accepts: small socket buffers, a 4 MB
                    write, a 4 KB high-water mark
  sock-recv         loop.sock_recv() of a connected non-blocking socket
  sock-accept       loop.sock_accept() of a listening non-blocking socket
  subprocess-wait   Process.wait() of `sleep 3600`
"""
import asyncio
import concurrent.futures
import socket
import threading

import _oracle

VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")
NEVER = threading.Event()       # the workers wait on it forever


class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A thread pool that keeps the concurrent futures of its work items
    (run_in_executor() and to_thread() keep them to themselves)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.futures = []

    def submit(self, *args, **kwargs):
        f = super().submit(*args, **kwargs)
        self.futures.append(f)
        return f


def blocked(started):
    """Run in a worker: say which thread runs it, then block."""
    started.append(threading.get_native_id())
    NEVER.wait()


def addr(a):
    return "%s:%d" % a[:2]


async def awaiting(aw):
    """A coroutine for a task that awaits the future aw."""
    return await aw


async def settle():
    for _ in range(10):
        await asyncio.sleep(0)


async def main():
    loop = asyncio.get_running_loop()
    expect = _oracle.expect_waiting
    task = loop.create_task
    park = loop.create_future()

    # --- executors: two running work items, one pending
    pool = RecordingExecutor(max_workers=2, thread_name_prefix="pool")
    default = RecordingExecutor(max_workers=1, thread_name_prefix="default")
    loop.set_default_executor(default)
    on_pool, on_default = [], []
    t_run = task(awaiting(loop.run_in_executor(pool, blocked, on_pool)),
                 name="executor-running")
    t_thread = task(asyncio.to_thread(blocked, on_default), name="to-thread")
    await settle()
    t_pend = task(awaiting(loop.run_in_executor(None, blocked, [])),
                  name="executor-pending")
    while len(on_pool) < 1 or len(on_default) < 1:
        await asyncio.sleep(0.01)
    expect(t_run, "executor", pool.futures[0], {"state": "RUNNING", "thread": on_pool[0]})
    expect(t_thread, "executor", default.futures[0],
           {"state": "RUNNING", "thread": on_default[0]})
    expect(t_pend, "executor", lambda: default.futures[1],
           {"state": "PENDING", "thread": None})

    # --- streams: a read on a connection to an asyncio server
    server_side = []

    async def serve(reader, writer):
        asyncio.current_task().set_name("server-read")
        server_side.append((reader, writer, asyncio.current_task()))
        await reader.read(100)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    server_addr = server.sockets[0].getsockname()
    reader, writer = await asyncio.open_connection(*server_addr[:2])
    csock = writer.get_extra_info("socket")
    t_read = task(reader.read(100), name="stream-read")
    while not server_side:
        await asyncio.sleep(0.01)
    sreader, swriter, t_server = server_side[0]
    expect(t_read, "stream", reader, {"operation": "read", "fd": csock.fileno(),
                                      "peer": addr(server_addr)})
    ssock = swriter.get_extra_info("socket")
    expect(t_server, "stream", sreader, {"operation": "read", "fd": ssock.fileno(),
                                         "peer": addr(csock.getsockname())})

    # --- a drain that never ends: nobody reads on the other side
    nobody = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    nobody.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    nobody.bind(("127.0.0.1", 0))
    nobody.listen(1)
    r2, w2 = await asyncio.open_connection(*nobody.getsockname())
    dsock = w2.get_extra_info("socket")
    dsock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    w2.transport.set_write_buffer_limits(high=4096)
    w2.write(b"x" * (4 << 20))
    t_drain = task(w2.drain(), name="stream-drain")
    expect(t_drain, "stream", w2._protocol, {"operation": "drain", "fd": dsock.fileno(),
                                             "peer": addr(nobody.getsockname())})

    # --- loop.sock_recv(), loop.sock_accept()
    listener = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(listener.getsockname())
    b, _ = listener.accept()
    a.setblocking(False)
    t_recv = task(loop.sock_recv(a, 100), name="sock-recv")
    expect(t_recv, "socket", lambda: loop._selector.get_key(a.fileno()).data[0],
           {"operation": "recv", "fd": a.fileno(), "peer": addr(listener.getsockname())})
    acceptor = socket.create_server(("127.0.0.1", 0))
    acceptor.setblocking(False)
    t_acc = task(loop.sock_accept(acceptor), name="sock-accept")
    expect(t_acc, "socket", lambda: loop._selector.get_key(acceptor.fileno()).data[0],
           {"operation": "accept", "fd": acceptor.fileno(), "peer": None})

    # --- a child process that does not end
    proc = await asyncio.create_subprocess_exec("sleep", "3600")
    t_proc = task(proc.wait(), name="subprocess-wait")
    expect(t_proc, "subprocess", proc._transport, {"pid": proc.pid, "returncode": None})

    await settle()
    _oracle.keep(pool, default, server, reader, writer, r2, w2, nobody, listener, a, b,
                 acceptor, proc, park)
    _oracle.expect_loop(ready=0, timers=0, can_wake=True)
    _oracle.snapshot_when_parked()
    await park


if __name__ == "__main__":
    _oracle.main(main)
