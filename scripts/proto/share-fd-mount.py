#!/usr/bin/env python3
# PROTOTYPE, used by nothing: the FUSE mount of a shared folder made from outside a running VM
# (docs/security.md, "FUSE in the VM"). Run as root on the node:
#   share-fd-mount.py VM_INIT_PID UID GID /home/USER/Redirected/NAME CLIENT_DIR
# The folder must exist in the VM. Shows that the sandbox needs no change for it.
# as host root: join the VM's user namespace, open /dev/fuse there; a child joins the VM's
# mount namespace and mounts fuse.sshfs with fd= on the user's folder (opened O_NOFOLLOW);
# then sshfs runs as the VM's user (in its user namespace) on /dev/fd/3 against sftp-server
import os, sys, ctypes, socket, subprocess, time
pid, uid, gid, target, src = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
libc = ctypes.CDLL(None, use_errno=True)
a, b = socket.socketpair()
srv = subprocess.Popen(["/usr/lib/openssh/sftp-server", "-e", "-d", src], stdin=a, stdout=a)
if os.fork() == 0:
    u = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY); m = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    if libc.setns(u, 0x10000000) != 0: print("setns user", ctypes.get_errno()); os._exit(1)
    fd = os.open("/dev/fuse", os.O_RDWR)
    c = os.fork()
    if c == 0:
        if libc.setns(m, 0x20000) != 0: print("setns mnt", ctypes.get_errno()); os._exit(1)
        d = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        os.fchdir(d)
        rc = libc.mount(b"qvd-share", b".", b"fuse.sshfs", 6, f"fd={fd},rootmode=40000,user_id={uid},group_id={gid}".encode())
        print("mount", rc, os.strerror(ctypes.get_errno()) if rc else "ok", flush=True)
        os._exit(0 if rc == 0 else 1)
    os.waitpid(c, 0)
    os.setgroups([]); os.setgid(gid); os.setuid(uid)
    os.dup2(b.fileno(), 0); os.dup2(b.fileno(), 1); os.dup2(fd, 3)
    os.execvp("sshfs", ["sshfs", "-f", "-o", "slave", "qvd-client:", "/dev/fd/3"])
time.sleep(3)
