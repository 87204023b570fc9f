"""Fixtures of the interop suite: a `bms-sim` process and official-SDK clients for it.

The simulator binary comes from `BMS_SIM_BIN`, else `target/debug/bms-sim` (built by
`hack/interop.sh`). It is started once per session on a free port with `scenario.yaml`, and a
short lockout so the lockout test can wait for the lock to expire.
"""

import json
import os
import pathlib
import select
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from huaweicloudsdkbms.v1 import BmsClient, ShowJobInfosRequest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent

PROJECT_ID = "0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b"
# A permanent key for most tests.
AK = "INTEROPACCESSKEY0001"
SK = "interopSecretKey000000000000000000000001"
# A key that the lockout test locks.
LOCK_AK = "INTEROPLOCKEDKEY0002"
LOCK_SK = "interopLockedKey000000000000000000000002"
# Temporary credentials: the key is bound to a security token.
TEMP_AK = "INTEROPTEMPORARY0003"
TEMP_SK = "interopTemporary000000000000000000000003"
TEMP_TOKEN = "gQpjbi1ub3J0aC00jINTEROPTOKEN"
LOCKOUT_SECONDS = 3
START_TIMEOUT_SECONDS = 30


def sim_binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("BMS_SIM_BIN", REPO / "target" / "debug" / "bms-sim"))
    if not path.is_file():
        pytest.fail(f"bms-sim not found at {path}: run `cargo build --bin bms-sim` or hack/interop.sh")
    return path


class Sim:
    """A running simulator and its admin API."""

    def __init__(self, url: str):
        self.url = url

    def admin(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="session")
def sim():
    command = [
        str(sim_binary()),
        "--listen", "127.0.0.1:0",
        "--scenario", str(HERE / "scenario.yaml"),
        "--credential", f"{AK}:{SK}",
        "--credential", f"{LOCK_AK}:{LOCK_SK}",
        "--credential", f"{TEMP_AK}:{TEMP_SK}:{TEMP_TOKEN}",
        "--lockout-failures", "5",
        "--lockout-duration", f"{LOCKOUT_SECONDS}s",
    ]
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_SECONDS)
        line = process.stdout.readline() if ready else ""
        prefix = "bms-sim listening on "
        if not line.startswith(prefix):
            pytest.fail(f"bms-sim did not start: first line {line!r}, exit code {process.poll()}")
        yield Sim(line[len(prefix):].strip())
    finally:
        process.terminate()
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            pytest.fail("bms-sim did not stop on SIGTERM")
    assert code == 0, f"bms-sim exited with {code}"


def make_client(sim: Sim, ak: str, sk: str, security_token: str = None, retry_times: int = 0) -> BmsClient:
    """An official SDK client of the simulator, as a user would build one."""
    credentials = BasicCredentials(ak, sk, PROJECT_ID)
    if security_token is not None:
        credentials = credentials.with_security_token(security_token)
    config = HttpConfig.get_default_config()
    config.timeout = (5, 30)
    config.retry_times = retry_times
    return (
        BmsClient.new_builder()
        .with_http_config(config)
        .with_credentials(credentials)
        .with_endpoints([sim.url])
        .build()
    )


@pytest.fixture
def client(sim) -> BmsClient:
    return make_client(sim, AK, SK)


def show_job(client: BmsClient, job_id: str):
    return client.show_job_infos(ShowJobInfosRequest(job_id=job_id))


def wait_until(deadline_seconds: float, predicate, interval: float = 0.2):
    deadline = time.monotonic() + deadline_seconds
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            return result
        time.sleep(interval)
