import socket, subprocess, time
PORT=23121
p = subprocess.Popen(["memcached","-u","root","-l","127.0.0.1","-p",str(PORT),"-U","0"])
time.sleep(0.3)
def trial(parts, pause=0.05):
    s = socket.create_connection(("127.0.0.1",PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
      for i,pt in enumerate(parts):
        s.sendall(pt)
        if i+1<len(parts): time.sleep(pause)
      s.sendall(b"mn\r\n")
    except OSError as e: return "send-failed"
    s.settimeout(0.5); out=b""
    try:
        while not out.endswith(b"MN\r\n"):
            try: d=s.recv(1<<20)
            except ConnectionResetError: return "reset"
            if not d: return "closed"
            out+=d
    except socket.timeout: return "timeout"
    return "ok:"+out[:40].decode('latin1')
def line(cmd, L):
    # a line of exactly L bytes incl \r\n: cmd + keys of 200 bytes
    body=b""; i=0
    head=cmd
    while len(head)+len(body)+2 < L:
        room = L - (len(head)+len(body)+2) - 1
        k = (b"%05d"%i + b"k"*245)[:min(250,room)]
        if len(k)==0: break
        body += b" "+k; i+=1
    ln = head+body+b"\r\n"
    return ln
for cmd in [b"gat 0", b"gats 0", b"get", b"touch", b"mg", b"delete"]:
    for L in [2048, 2049, 4000, 16000, 16383, 16384, 16385, 20000]:
        ln=line(cmd,L)
        whole=trial([ln])
        split=trial([ln[:len(ln)-10], ln[len(ln)-10:]])
        print(cmd.decode(), len(ln), "whole:",whole[:30], "| split:", split[:30])
p.kill()
