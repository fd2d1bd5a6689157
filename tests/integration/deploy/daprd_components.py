"""The component types and versions daprd 1.18/1.19 registers, read from dapr/dapr
cmd/daprd/components/*.go at v1.18.3 and on master after it (the lists agree): each
`RegisterComponent(..., "name", ...)` there is type `<block>.<name>`, served as v1 (and "",
v0: pkg/components/versioning.go IsInitialVersion); each `RegisterComponentWithVersions`
names its versions. Only the building blocks Tickler's YAML uses are listed; a component of
another block fails the check until its types are added here from the same source."""

from __future__ import annotations

INITIAL = frozenset({"v1"})

# cmd/daprd/components/pubsub_*.go
PUBSUB = {
    f"pubsub.{name}": INITIAL
    for name in (
        "aws.snssqs", "snssqs", "azure.eventhubs", "azure.servicebus.queues",
        "azure.servicebusqueues", "azure.servicebus.topics", "azure.servicebus", "gcp.pubsub",
        "in-memory", "jetstream", "kafka", "kubemq", "mqtt3", "mqtt", "pulsar", "rabbitmq",
        "redis", "rocketmq", "solace.amqp",
    )
}  # fmt: skip

# cmd/daprd/components/state_*.go; the versioned ones (state_postgres.go,
# state_cockroachdb.go, state_sqlserver.go, state_etcd.go, state_azure_blobstorage.go) apart
STATE = {
    **{
        f"state.{name}": INITIAL
        for name in (
            "aerospike", "alicloud.tablestore", "aws.dynamodb", "azure.cosmosdb",
            "azure.tablestorage", "cassandra", "cloudflare.workerskv", "coherence",
            "couchbase", "gcp.firestore", "hashicorp.consul", "consul", "hazelcast",
            "in-memory", "jetstream", "memcached", "mongodb", "mysql", "oci.objectstorage",
            "oracledatabase", "ravendb", "redis", "rethinkdb", "sqlite", "sqlite3", "zookeeper",
        )
    },
    "state.postgresql": frozenset({"v1", "v2"}),
    "state.postgres": frozenset({"v1", "v2"}),
    "state.yugabytedb": frozenset({"v2"}),
    "state.yugabyte": frozenset({"v2"}),
    "state.cockroachdb": frozenset({"v1", "v2"}),
    "state.sqlserver": frozenset({"v1", "v2"}),
    "state.etcd": frozenset({"v1", "v2"}),
    "state.azure.blobstorage": frozenset({"v1", "v2"}),
}  # fmt: skip

# cmd/daprd/components/secretstores_*.go
SECRET_STORES = {
    f"secretstores.{name}": INITIAL
    for name in (
        "alicloud.parameterstore", "aws.parameterstore", "aws.secretmanager", "azure.keyvault",
        "gcp.secretmanager", "hashicorp.vault", "huaweicloud.csms", "kubernetes", "local.env",
        "local.file", "tencentcloud.ssm",
    )
}  # fmt: skip

REGISTERED: dict[str, frozenset[str]] = {**PUBSUB, **STATE, **SECRET_STORES}
