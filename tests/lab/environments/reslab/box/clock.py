"""The box's service: writes the wall-clock time it sees to /tmp/now every 0.2 s (ISO and epoch)."""
import os
import time

PATH = "/tmp/now"
try:
    os.remove(PATH)
except FileNotFoundError:
    pass
while True:
    now = time.time()
    with open(PATH + ".tmp", "w") as fh:
        fh.write(f"{now:.3f} {time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))}\n")
    os.replace(PATH + ".tmp", PATH)
    time.sleep(0.2)
