"""Configuration of the OPC-UA connector: one endpoint, its security, devices and their nodes."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from .paths import (
    ALIAS,
    BrowsePathSpec,
    NodeIdSpec,
    is_node_id,
    parse_browse_path,
    parse_node_id,
)

UserPath = Annotated[Path, AfterValidator(lambda path: path.expanduser())]
Policy = Literal["None", "Basic256Sha256"]
Mode = Literal["None", "Sign", "SignAndEncrypt"]
DEFAULT_CERT_DIR = Path("~/.local/share/sentio/opcua")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duplicates(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


def _existing_file(path: Path | None, key: str) -> None:
    if path is not None and not path.is_file():
        raise ValueError(f"{key}: {path} is not a file")


class SecurityConfig(_Strict):
    """Message security of the session, and the certificates it uses."""

    policy: Policy = "None"
    mode: Mode | None = Field(default=None, description="Unset: SignAndEncrypt under a policy.")
    certificate: UserPath | None = None
    private_key: UserPath | None = None
    private_key_password: SecretStr | None = None
    server_certificate: UserPath | None = None
    cert_dir: UserPath = Field(default=DEFAULT_CERT_DIR, validate_default=True)
    application_uri: str | None = Field(default=None, min_length=1)

    @property
    def message_mode(self) -> Mode:
        """Return the message security mode in effect."""
        if self.mode is not None:
            return self.mode
        return "None" if self.policy == "None" else "SignAndEncrypt"

    @model_validator(mode="after")
    def _check(self) -> SecurityConfig:
        if self.policy == "None":
            if self.message_mode != "None":
                raise ValueError(
                    f"security.mode {self.message_mode} needs security.policy Basic256Sha256"
                )
            for key in ("certificate", "private_key", "server_certificate"):
                if getattr(self, key) is not None:
                    raise ValueError(f"security.{key} needs security.policy Basic256Sha256")
        elif self.message_mode == "None":
            raise ValueError(
                f"security.mode None contradicts security.policy {self.policy}; "
                "use Sign or SignAndEncrypt"
            )
        if (self.certificate is None) != (self.private_key is None):
            given, missing = (
                ("certificate", "private_key")
                if self.private_key is None
                else ("private_key", "certificate")
            )
            raise ValueError(f"security.{given} is set but security.{missing} is not")
        if self.private_key_password is not None and self.private_key is None:
            raise ValueError("security.private_key_password needs security.private_key")
        _existing_file(self.certificate, "security.certificate")
        _existing_file(self.private_key, "security.private_key")
        _existing_file(self.server_certificate, "security.server_certificate")
        return self


class DeadbandConfig(_Strict):
    """A data change filter: report a change only when it exceeds this band."""

    type: Literal["absolute", "percent"]
    value: float = Field(gt=0)

    @model_validator(mode="after")
    def _check(self) -> DeadbandConfig:
        if self.type == "percent" and self.value > 100:
            raise ValueError("deadband.value of type percent must be at most 100")
        return self


class SubscriptionConfig(_Strict):
    """How the server samples and publishes a device's monitored nodes."""

    publishing_interval_s: float = Field(default=1.0, gt=0)
    sampling_interval_s: float | None = Field(default=None, ge=0, description="Unset: publishing.")
    queue_size: int = Field(default=1, ge=1, le=10_000)
    deadband: DeadbandConfig | None = None


class NodeConfig(_Strict):
    """One variable node, by node id or browse path, reported as one metric."""

    name: str = Field(min_length=1)
    node_id: str | None = Field(default=None, min_length=1)
    path: str | None = Field(default=None, min_length=1)
    unit: str = Field(
        default="", description="UCUM unit; `{bool}`, `{state}`, `{part}`…; empty: a plain number."
    )
    deadband: DeadbandConfig | None = None

    @field_validator("node_id")
    @classmethod
    def _check_node_id(cls, value: str | None) -> str | None:
        if value is not None:
            parse_node_id(value)
        return value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_browse_path(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> NodeConfig:
        if (self.node_id is None) == (self.path is None):
            raise ValueError(f"node {self.name}: give exactly one of node_id and path")
        return self

    @property
    def spec(self) -> NodeIdSpec | BrowsePathSpec:
        """Return the parsed node id or browse path."""
        if self.node_id is not None:
            return parse_node_id(self.node_id)
        assert self.path is not None
        return parse_browse_path(self.path)

    @property
    def address(self) -> str:
        """Return the node id or browse path as written."""
        return self.node_id or self.path or ""


class BrowseConfig(_Strict):
    """Discovery: every numeric variable below ``root`` whose path below it matches a glob."""

    root: str = Field(default="Objects", min_length=1)
    include: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    exclude: list[str] = Field(default_factory=list)
    max_depth: int = Field(default=5, ge=1, le=32)
    max_nodes: int = Field(default=1000, ge=1, le=100_000)
    unit: str = Field(
        default="", description="UCUM unit; `{bool}`, `{state}`, `{part}`…; empty: a plain number."
    )

    @field_validator("root")
    @classmethod
    def _check_root(cls, value: str) -> str:
        if is_node_id(value):
            parse_node_id(value)
        else:
            parse_browse_path(value)
        return value

    @property
    def root_spec(self) -> NodeIdSpec | BrowsePathSpec:
        """Return the parsed root: a node id or a browse path."""
        return parse_node_id(self.root) if is_node_id(self.root) else parse_browse_path(self.root)

    def matches(self, path: str) -> bool:
        """Return whether the path below the root is included and not excluded."""
        return any(fnmatch.fnmatchcase(path, g) for g in self.include) and not any(
            fnmatch.fnmatchcase(path, g) for g in self.exclude
        )


class DeviceConfig(_Strict):
    """One device: a named group of nodes, listed or discovered."""

    name: str = Field(min_length=1)
    poll_interval_s: float = Field(default=10.0, gt=0)
    nodes: list[NodeConfig] = Field(default_factory=list)
    browse: BrowseConfig | None = None
    subscription: SubscriptionConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> DeviceConfig:
        if not self.nodes and self.browse is None:
            raise ValueError(f"device {self.name}: give nodes, browse, or both")
        duplicates = _duplicates([n.name for n in self.nodes])
        if duplicates:
            raise ValueError(f"duplicate node names: {', '.join(duplicates)}")
        return self


def _security(value: Any) -> Any:
    if isinstance(value, str):
        if value.lower() == "none":
            return {"policy": "None"}
        raise ValueError(
            f"security {value!r}: give 'none' or a mapping with policy, mode and certificates"
        )
    return value


class OpcuaConfig(_Strict):
    """The OPC-UA connector's configuration; see ``sample.yaml`` for every key."""

    endpoint: str = Field(pattern=r"^opc\.tcp://[^/\s]+(/\S*)?$")
    timeout_s: float = Field(default=4.0, gt=0)
    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    allow_insecure_credentials: bool = Field(
        default=False, description="Send the password under security policy None, in clear."
    )
    security: SecurityConfig = SecurityConfig()
    mode: Literal["poll", "subscribe"] = "poll"
    timestamp: Literal["gather", "source", "server"] = Field(
        default="gather",
        description="A reading's time: when Sentio read it, the node's SourceTimestamp (its "
        "last change), or the server's ServerTimestamp.",
    )
    source_timestamps: bool = Field(
        default=False,
        description="Also export each node's SourceTimestamp as <metric>_source_timestamp (s).",
    )
    subscription: SubscriptionConfig = SubscriptionConfig()
    namespaces: dict[str, str] = Field(default_factory=dict)
    devices: list[DeviceConfig] = Field(min_length=1)

    @field_validator("security", mode="before")
    @classmethod
    def _check_security(cls, value: Any) -> Any:
        return _security(value)

    @field_validator("namespaces")
    @classmethod
    def _check_namespaces(cls, value: dict[str, str]) -> dict[str, str]:
        for alias, uri in value.items():
            if not ALIAS.fullmatch(alias):
                raise ValueError(f"namespaces: alias {alias!r} is not a name like 'plant'")
            if not uri:
                raise ValueError(f"namespaces: alias {alias!r} has an empty URI")
        return value

    @model_validator(mode="after")
    def _check(self) -> OpcuaConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password must be given together")
        insecure = self.security.policy == "None" and not self.allow_insecure_credentials
        if self.password is not None and insecure:
            raise ValueError(
                "a password under security.policy None would cross the network in clear: use "
                "security.policy Basic256Sha256, or set allow_insecure_credentials: true"
            )
        duplicates = _duplicates([d.name for d in self.devices])
        if duplicates:
            raise ValueError(f"duplicate device names: {', '.join(duplicates)}")
        for i, device in enumerate(self.devices):
            self._check_device(f"devices[{i}]", device)
        if self.mode == "poll" and "subscription" in self.model_fields_set:
            raise ValueError("subscription applies to mode subscribe only")
        return self

    def _check_device(self, where: str, device: DeviceConfig) -> None:
        specs: list[tuple[str, NodeIdSpec | BrowsePathSpec]] = [
            (f"{where}.nodes[{j}].path", n.spec) for j, n in enumerate(device.nodes)
        ]
        if device.browse is not None:
            specs.append((f"{where}.browse.root", device.browse.root_spec))
        for key, spec in specs:
            if isinstance(spec, BrowsePathSpec):
                unknown = sorted(spec.aliases - set(self.namespaces))
                if unknown:
                    raise ValueError(
                        f"{key}: namespace alias {', '.join(unknown)} is not in namespaces"
                    )
        if self.mode == "subscribe":
            if "poll_interval_s" in device.model_fields_set:
                raise ValueError(f"{where}.poll_interval_s applies to mode poll only")
            return
        if device.subscription is not None:
            raise ValueError(f"{where}.subscription applies to mode subscribe only")
        for j, node in enumerate(device.nodes):
            if node.deadband is not None:
                raise ValueError(f"{where}.nodes[{j}].deadband applies to mode subscribe only")

    def subscription_of(self, device: DeviceConfig) -> SubscriptionConfig:
        """Return the subscription settings of ``device``: its own, else the connector's."""
        return device.subscription or self.subscription
