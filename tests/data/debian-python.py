# Run by tests/debian_programs.rs inside Isola (and first on the host):
# fork, pipe, subprocess, signal, socket, mmap of a file, json, hashlib.
import os, subprocess, signal, socket, mmap, json, hashlib
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r); os.write(w, b"child"); os._exit(3)
os.close(w)
data = os.read(r, 100)
_, st = os.waitpid(pid, 0)
print("fork", data.decode(), os.WEXITSTATUS(st))
out = subprocess.run(["/bin/echo", "sub"], capture_output=True, text=True)
print("subprocess", out.stdout.strip(), out.returncode)
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
print("signal", got == [signal.SIGUSR1])
a, b = socket.socketpair()
a.sendall(b"ping"); print("socket", b.recv(4).decode())
with open("/tmp/m.bin", "wb") as f: f.write(b"hello" + b"x" * 4091)
with open("/tmp/m.bin", "rb") as f:
    m = mmap.mmap(f.fileno(), 4096, access=mmap.ACCESS_READ); print("mmap", m[0:5].decode(), len(m)); m.close()
print("json", json.dumps({"a": [1, 2]}, sort_keys=True))
print("sha256", hashlib.sha256(b"isola").hexdigest()[:16])
# OpenSSL's libcrypto.so.3 (its unintended WRPKRU rewritten at map time,
# docs/dynamic.md) computes it too.
import _hashlib
print("openssl sha256", _hashlib.openssl_sha256(b"isola").hexdigest()[:16], hashlib.sha256.__module__)
