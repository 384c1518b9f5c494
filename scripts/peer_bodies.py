"""Request bodies for the side-by-side benchmark against the Python peer (scripts/peer_compare.sh).

Writes, for the same 50 readings (FD001 test engine 1's last 50 cycles), the gRPC PredictRUL request of each
side framed for h2load (5-byte gRPC prefix + protobuf; the two protos number their fields differently) and the
REST /predict JSON body both sides accept. The protos are compiled into a temporary directory at run time.

Usage: python peer_bodies.py CMAPSS_DIR OUR_PROTO PEER_PROTO OUT_DIR
"""
import gzip, os, struct, sys, tempfile, json
from grpc_tools import protoc

SENSORS = [2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21]


def compile_proto(path):
    out = tempfile.mkdtemp()
    here, name = os.path.split(os.path.abspath(path))
    if protoc.main(["protoc", f"-I{here}", f"--python_out={out}", f"{here}/{name}"]) != 0:
        sys.exit(f"protoc failed on {path}")
    sys.path.insert(0, out)
    return __import__(name[:-len(".proto")] + "_pb2")


def readings(cmapss):
    with gzip.open(os.path.join(cmapss, "test_FD001.txt.gz"), "rt") as f:
        rows = [[float(v) for v in line.split()] for line in f if line.strip()]
    engine = [r for r in rows if int(r[0]) == 1][-50:]
    return [{f"s{s}": r[4 + s] for s in SENSORS} for r in engine]


def framed(message):
    body = message.SerializeToString()
    return struct.pack(">BI", 0, len(body)) + body


def main():
    cmapss, ours_proto, peer_proto, out = sys.argv[1:5]
    data = readings(cmapss)
    os.makedirs(out, exist_ok=True)
    # Both protos are named prediction.proto: compile each from its own copy under a distinct name.
    stage = tempfile.mkdtemp()
    for src, name in ((ours_proto, "ours_prediction.proto"), (peer_proto, "peer_prediction.proto")):
        with open(src) as f, open(os.path.join(stage, name), "w") as g:
            g.write(f.read())
    ours = compile_proto(os.path.join(stage, "ours_prediction.proto"))
    peer = compile_proto(os.path.join(stage, "peer_prediction.proto"))
    for module, name in ((ours, "ours"), (peer, "peer")):
        request = module.RULRequest(engine_id="engine-1")
        for reading in data:
            request.sensor_data.add(**reading)
        with open(os.path.join(out, f"{name}.grpc"), "wb") as f:
            f.write(framed(request))
    with open(os.path.join(out, "predict.json"), "w") as f:
        json.dump({"engine_id": "engine-1", "sensor_data": data}, f)


if __name__ == "__main__":
    main()
