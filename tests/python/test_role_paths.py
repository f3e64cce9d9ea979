"""boto3 and pycognito as independent clients of the lab's role paths (issue 15).

Driven by crates/lab/tests/it/role_paths_python.rs, which starts two labs (the demo world with
the basic flow allowed and a loose authenticated-role trust policy, and the plain demo world)
and passes their endpoints in the environment. Prints one JSON object: for every case, "ok"
or the error code and message botocore parsed; the Rust side asks the same questions with
the Rust SDK and requires the same answers.
"""

import json
import os

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from pycognito.aws_srp import AWSSRP

env = os.environ
REGION = "us-east-1"
ACCOUNT = "123456789012"
unsigned = Config(signature_version=UNSIGNED, retries={"max_attempts": 1})
signed = Config(retries={"max_attempts": 1})


def outcome(fn):
    try:
        fn()
    except ClientError as e:
        err = e.response["Error"]
        return {"code": err.get("Code"), "message": err.get("Message")}
    return "ok"


def arn(role):
    return f"arn:aws:iam::{ACCOUNT}:role/{role}"


def client(service, prefix, **kw):
    return boto3.client(
        service, region_name=REGION, endpoint_url=env[f"{prefix}_{service.upper().replace('-', '_')}"], **kw
    )


def sts_signed(prefix, akid, secret, token=None):
    return client(
        "sts",
        prefix,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=signed,
    )


def srp_id_token(prefix, user, password, secret=None):
    idp = client("cognito-idp", prefix, config=unsigned)
    srp = AWSSRP(
        username=user,
        password=password,
        pool_id=env["LAB_USER_POOL"],
        client_id=env["LAB_CLIENT_ID"],
        client=idp,
        client_secret=secret,
    )
    return srp.authenticate_user()["AuthenticationResult"]["IdToken"]


def main():
    out = {}
    p = "LOOSE"
    pool = env["LAB_POOL"]
    provider = env["LAB_PROVIDER"]
    ci = client("cognito-identity", p, config=unsigned)
    web = client("sts", p, config=unsigned)

    # USER_SRP_AUTH with pycognito (the lab's user pool).
    alice_token = srp_id_token(p, "alice", env["LAB_ALICE_PASSWORD"])
    out["srp_wrong_password"] = outcome(lambda: srp_id_token(p, "alice", "not-her-password"))
    logins = {provider: alice_token}
    alice_id = ci.get_id(IdentityPoolId=pool, Logins=logins)["IdentityId"]
    alice = ci.get_credentials_for_identity(IdentityId=alice_id, Logins=logins)["Credentials"]
    out["srp_identity_id"] = alice_id

    # AssumeRole into the admin role: ops (named in its trust policy) and alice.
    ops = sts_signed(p, env["LAB_OPS_AKID"], env["LAB_OPS_SECRET"])
    out["assume_admin_ops"] = outcome(
        lambda: ops.assume_role(RoleArn=arn("FleetAdminRole"), RoleSessionName="canary-probe")
    )
    alice_sts = sts_signed(p, alice["AccessKeyId"], alice["SecretKey"], alice["SessionToken"])
    out["assume_admin_alice"] = outcome(
        lambda: alice_sts.assume_role(RoleArn=arn("FleetAdminRole"), RoleSessionName="canary-probe")
    )

    # Basic flow: GetOpenIdToken + AssumeRoleWithWebIdentity.
    guest_id = ci.get_id(IdentityPoolId=pool)["IdentityId"]
    guest_token = ci.get_open_id_token(IdentityId=guest_id)["Token"]
    user_token = ci.get_open_id_token(IdentityId=alice_id, Logins=logins)["Token"]

    def assume_web(token, role):
        return lambda: web.assume_role_with_web_identity(
            RoleArn=arn(role), RoleSessionName="web-probe", WebIdentityToken=token
        )

    out["web_guest_auth_role"] = outcome(assume_web(guest_token, "CognitoAuthRole"))
    out["web_guest_guest_role"] = outcome(assume_web(guest_token, "CognitoGuestRole"))
    out["web_user_admin_role"] = outcome(assume_web(user_token, "FleetAdminRole"))
    out["web_forged_token"] = outcome(assume_web("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "CognitoAuthRole"))

    # Role selection from tokens.
    def custom(role):
        return lambda: ci.get_credentials_for_identity(
            IdentityId=alice_id, Logins=logins, CustomRoleArn=arn(role)
        )

    out["custom_auth_role"] = outcome(custom("CognitoAuthRole"))
    out["custom_admin_role"] = outcome(custom("FleetAdminRole"))

    # The plain demo world: the basic flow is off.
    strict = client("cognito-identity", "STRICT", config=unsigned)
    strict_guest = strict.get_id(IdentityPoolId=pool)["IdentityId"]
    out["open_id_token_disabled"] = outcome(lambda: strict.get_open_id_token(IdentityId=strict_guest))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
