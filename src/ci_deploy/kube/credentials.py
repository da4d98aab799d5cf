"""The secret values a kubeconfig holds or yields, so that nothing ci-deploy prints shows them.

From the file's own text (the raw scalars, so ``token: 1234567890`` is masked as written, not
as the number YAML reads): tokens, passwords, key data (and the PEM it decodes to), OIDC
auth-provider secrets, every ``env`` value of an ``exec`` credential plugin and the values of
its secret-looking arguments (``--token X``, ``--password=X``). From a loaded client
configuration: the credential in use, including the one an ``exec`` plugin returned.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

SECRET_KEYS = frozenset(
    {
        "token",
        "password",
        "client-key-data",
        "client-certificate-data",
        "id-token",
        "refresh-token",
        "access-token",
        "client-secret",
    }
)
BASE64_KEYS = frozenset({"client-key-data", "client-certificate-data"})
_SECRET_ARG = re.compile(r"^--?[\w-]*(token|secret|password|passwd|key|credential)[\w-]*$", re.I)


def _decoded(value: str) -> str | None:
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text if "-----BEGIN" in text else None


def _exec_values(node: Any) -> list[str]:
    """Secret values of an ``exec`` block (a yaml MappingNode): env values, secret args."""
    import yaml

    found: list[str] = []
    for key, value in node.value:
        if key.value == "env" and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if isinstance(item, yaml.MappingNode):
                    found += [v.value for k, v in item.value if k.value == "value" and v.value]
        if key.value == "args" and isinstance(value, yaml.SequenceNode):
            args = [a.value for a in value.value if isinstance(a, yaml.ScalarNode)]
            for i, arg in enumerate(args):
                flag, eq, rest = arg.partition("=")
                if _SECRET_ARG.match(flag) and eq and rest:
                    found.append(rest)
                elif _SECRET_ARG.match(arg) and i + 1 < len(args):
                    found.append(args[i + 1])
    return found


def _walk(node: Any, found: list[str]) -> None:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _walk(item, found)
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name in SECRET_KEYS and isinstance(value, yaml.ScalarNode) and value.value:
            found.append(value.value)
            decoded = _decoded(value.value) if name in BASE64_KEYS else None
            if decoded:
                found.append(decoded)
        elif name == "exec" and isinstance(value, yaml.MappingNode):
            found += _exec_values(value)
        else:
            _walk(value, found)


def kubeconfig_credentials(text: str) -> list[str]:
    """Every secret value in a kubeconfig's text (none when it is not YAML)."""
    import yaml

    found: list[str] = []
    try:
        for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
            _walk(document, found)
    except yaml.YAMLError:
        return found  # what was read so far; the caller masks an unreadable input whole
    return list(dict.fromkeys(found))


def configuration_credentials(configuration: Any) -> list[str]:
    """The credentials a loaded ``kubernetes.client.Configuration`` will send."""
    found: list[str] = []
    for value in (getattr(configuration, "api_key", None) or {}).values():
        if isinstance(value, str) and value:
            found.append(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.lower() in ("bearer", "basic"):
                found.append(credential)
    password = getattr(configuration, "password", None)
    if isinstance(password, str) and password:
        found.append(password)
    return found
