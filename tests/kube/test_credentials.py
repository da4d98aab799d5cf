"""Every secret a kubeconfig holds is found, as written, without touching ordinary words."""

from __future__ import annotations

import base64

from ci_deploy.kube.credentials import configuration_credentials, kubeconfig_credentials

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
KUBECONFIG = f"""\
apiVersion: v1
kind: Config
users:
- name: numbers
  user: {{token: 1234567890123456, password: 2026-01-01}}
- name: key
  user: {{client-key-data: {base64.b64encode(PEM.encode()).decode()}}}
- name: oidc
  user:
    auth-provider:
      name: oidc
      config: {{client-id: web, client-secret: oidc-secret-42, id-token: eyJhbGciOi.id}}
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
      args: [eks, get-token, --cluster-name, prod, --token-code, "918273645", --password=pw-in-arg]
      env:
      - {{name: AWS_SECRET_ACCESS_KEY, value: wJalrXUtnFEMI/K7MDENG}}
      - {{name: AWS_REGION, value: eu-west-1}}
"""


def test_every_credential_is_found_as_written() -> None:
    found = kubeconfig_credentials(KUBECONFIG)
    assert "1234567890123456" in found, "a token YAML reads as a number"
    assert "2026-01-01" in found, "a password YAML reads as a date"
    assert PEM in found, "the PEM that client-key-data decodes to"
    assert {"oidc-secret-42", "eyJhbGciOi.id"} <= set(found)
    assert {"wJalrXUtnFEMI/K7MDENG", "eu-west-1"} <= set(found), "exec env values"
    assert {"918273645", "pw-in-arg"} <= set(found), "values of secret-looking exec args"
    for ordinary in ("eks", "get-token", "prod", "aws", "web", "oidc", "numbers"):
        assert ordinary not in found


def test_not_yaml_gives_nothing_and_the_caller_masks_the_input_whole() -> None:
    assert kubeconfig_credentials(": not yaml: [") == []


def test_the_credential_a_loaded_configuration_sends() -> None:
    from kubernetes.client import Configuration

    configuration = Configuration()
    configuration.api_key = {"BearerToken": "Bearer exec-returned-token-77"}
    assert configuration_credentials(configuration) == [
        "Bearer exec-returned-token-77",
        "exec-returned-token-77",
    ]
