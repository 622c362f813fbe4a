"""A fake EC2 instance metadata service (IMDSv2) on loopback: the IAM-role case of the AWS credential chain.

It serves what an EC2 instance profile serves — a session token for PUT /latest/api/token, the role name and
the role's temporary credentials — and, like IMDSv2 with "HttpTokens: required", refuses every GET without a
valid token, so a client that only speaks IMDSv1 gets nothing. Clients find it through
AWS_EC2_METADATA_SERVICE_ENDPOINT. `requests` records (method, path, had a valid token) for the tests.
"""

import datetime
import json
import secrets

from loopback_http import LoopbackHttpServer, QuietHandler

CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials"
TOKEN_HEADER = "x-aws-ec2-metadata-token"


class FakeImds(LoopbackHttpServer):
    def __init__(self, role, access_key, secret_key):
        self.role = role
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = secrets.token_hex(16)
        self.requests = []
        super().__init__(self._handler_class())

    def role_credentials(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        return {"Code": "Success", "LastUpdated": now.strftime(stamp), "Type": "AWS-HMAC",
                "AccessKeyId": self.access_key, "SecretAccessKey": self.secret_key,
                "Token": "fake-session-token-" + self.token,
                "Expiration": (now + datetime.timedelta(hours=6)).strftime(stamp)}

    def _answer(self, method, path, token):
        """(status, body) for one request."""
        authorised = token == self.token
        self.requests.append((method, path, authorised))
        if method == "PUT":
            return (200, self.token) if path == "/latest/api/token" else (404, "")
        if not authorised:
            return 401, ""
        if path.rstrip("/") == CREDENTIALS_PATH:  # the AWS SDKs ask with and without the slash
            return 200, self.role
        if path == f"{CREDENTIALS_PATH}/{self.role}":
            return 200, json.dumps(self.role_credentials())
        return 404, ""

    def _handler_class(self):
        imds = self

        class Handler(QuietHandler):
            def _reply(self, method):
                status, body = imds._answer(method, self.path, self.headers.get(TOKEN_HEADER))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                self._reply("PUT")

            def do_GET(self):
                self._reply("GET")

        return Handler
