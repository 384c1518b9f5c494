"""Calls a running `rul serve --sagemaker` through boto3's sagemaker-runtime client (an independent SageMaker
client), via a loopback stand-in of the SageMaker runtime that forwards POST /endpoints/{name}/invocations to the
server's /invocations. Checks that boto3 signs with SigV4, that JSON and CSV invocations agree with POST /predict,
and that a container refusal surfaces as SageMaker's ModelError. Exits non-zero on any mismatch.

Usage: python3 .ci/boto3_invocations.py http://127.0.0.1:PORT
"""

import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config
import botocore.exceptions

SERVER = sys.argv[1].rstrip("/")
ENDPOINT = "rul-boto3-check"
SEEN = []

# A healthy FD001 engine (the README's example reading), drifting slightly over the history.
BASE = {"s2": 642.1, "s3": 1589.7, "s4": 1400.6, "s7": 554.4, "s8": 2388.0, "s9": 9046.2, "s11": 47.47,
        "s12": 521.7, "s13": 2388.0, "s14": 8138.6, "s15": 8.4195, "s17": 392.0, "s20": 39.06, "s21": 23.419}


def readings(n, drift):
    return [{k: round(v * (1 + drift * i / max(n, 1)), 4) for k, v in BASE.items()} for i in range(n)]


def post(path, body, content_type="application/json"):
    request = urllib.request.Request(SERVER + path, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class StandIn(BaseHTTPRequestHandler):
    """The SageMaker runtime, reduced to what InvokeEndpoint needs."""

    def do_POST(self):
        parts = self.path.split("/")
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        SEEN.append({"path": self.path, "authorization": self.headers.get("Authorization", ""),
                     "content_type": self.headers.get("Content-Type", "")})
        if len(parts) != 4 or parts[1] != "endpoints" or parts[3] != "invocations":
            self.send_response(404)
            self.end_headers()
            return
        status, answer = post("/invocations", body, self.headers.get("Content-Type", "application/json"))
        if status != 200:
            # What SageMaker does with a container error: 424 ModelError.
            answer = json.dumps({"ErrorCode": "CLIENT_ERROR_FROM_MODEL", "OriginalStatusCode": status,
                                 "Message": "Received client error (%d) from primary" % status,
                                 "OriginalMessage": answer.decode("utf-8", "replace")}).encode()
            self.send_response(424)
            self.send_header("x-amzn-ErrorType", "ModelError")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    stand_in = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url="http://127.0.0.1:%d" % stand_in.server_address[1],
        region_name="us-east-1",
        aws_access_key_id="AKIDBOTO3CHECK",
        aws_secret_access_key="boto3-check-secret",
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30),
    )
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    windows = [readings(40, 0.001), readings(8, 0.0005)]
    expected = []
    for i, window in enumerate(windows):
        status, body = post("/predict", json.dumps({"engine_id": "boto3-%d" % i, "sensor_data": window}).encode())
        check(status == 200, "POST /predict %d answers 200 (%d)" % (i, status))
        expected.append(json.loads(body)["predicted_rul"] if status == 200 else None)

    answer = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json",
                                    Accept="application/json", Body=json.dumps({"instances": windows}))
    got = [p[0] for p in json.loads(answer["Body"].read())["predictions"]]
    check(len(got) == 2 and all(abs(a - b) < 1e-6 for a, b in zip(got, expected)),
          "JSON invocation agrees with /predict: %s vs %s" % (got, expected))

    names = list(BASE)
    csv = ",".join(names) + "\n" + "".join(",".join(str(r[k]) for k in names) + "\n" for r in windows[0])
    answer = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=csv)
    got = json.loads(answer["Body"].read())["predictions"][0][0]
    check(abs(got - expected[0]) < 1e-6, "CSV invocation agrees with /predict: %s vs %s" % (got, expected[0]))

    try:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json",
                               Body=json.dumps({"instances": [[{"s2": 642.1}]]}))
        check(False, "a refused window raises ModelError")
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        check(code == "ModelError", "a refused window raises ModelError (%s)" % code)

    check(len(SEEN) == 3, "the stand-in saw 3 calls (%d)" % len(SEEN))
    for seen in SEEN:
        check(seen["path"] == "/endpoints/%s/invocations" % ENDPOINT, "path %s" % seen["path"])
        check(seen["authorization"].startswith("AWS4-HMAC-SHA256 ")
              and "/sagemaker/aws4_request" in seen["authorization"], "SigV4-signed for sagemaker")
    stand_in.shutdown()
    if failures:
        print("boto3 invocations: %d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("boto3 invocations: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
