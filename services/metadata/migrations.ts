// The schema of ctrd's metadata database, as an ordered list of migrations. A database records the number
// of migrations applied in PRAGMA user_version; start-up applies the rest, each in its own transaction.
// Append only: a released migration is never edited, a change is a new entry (with a test).
//
// Labels are JSON objects in a TEXT column: they are read whole and filtered in memory, as containerd does.
// Times are milliseconds since the epoch. Every object row is keyed by its namespace.

export interface Migration {
  readonly name: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    name: 'namespaces, content, leases',
    sql: `
      CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      CREATE TABLE namespaces (
        name       TEXT PRIMARY KEY,
        labels     TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE content (
        namespace  TEXT NOT NULL REFERENCES namespaces(name),
        digest     TEXT NOT NULL,
        size       INTEGER NOT NULL,
        labels     TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (namespace, digest)
      ) STRICT;
      CREATE INDEX content_by_digest ON content(digest);

      CREATE TABLE leases (
        namespace  TEXT NOT NULL REFERENCES namespaces(name),
        id         TEXT NOT NULL,
        labels     TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        PRIMARY KEY (namespace, id)
      ) STRICT;

      CREATE TABLE lease_resources (
        namespace TEXT NOT NULL,
        lease     TEXT NOT NULL,
        type      TEXT NOT NULL,
        id        TEXT NOT NULL,
        PRIMARY KEY (namespace, lease, type, id),
        FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE
      ) STRICT;
    `,
  },
  {
    name: 'snapshots, images',
    sql: `
      -- One row per snapshot of every snapshotter. id names the snapshot's directory in its snapshotter's
      -- root, so a commit (a new key for the same snapshot) moves no data. A parent cannot go while a child
      -- stands on it.
      CREATE TABLE snapshots (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        namespace   TEXT NOT NULL REFERENCES namespaces(name),
        snapshotter TEXT NOT NULL,
        key         TEXT NOT NULL,
        parent_id   INTEGER REFERENCES snapshots(id) ON DELETE RESTRICT,
        kind        TEXT NOT NULL CHECK (kind IN ('view', 'active', 'committed')),
        labels      TEXT NOT NULL DEFAULT '{}',
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        UNIQUE (namespace, snapshotter, key)
      ) STRICT;
      CREATE INDEX snapshots_by_parent ON snapshots(parent_id);

      CREATE TABLE images (
        namespace          TEXT NOT NULL REFERENCES namespaces(name),
        name               TEXT NOT NULL,
        labels             TEXT NOT NULL DEFAULT '{}',
        target_media_type  TEXT NOT NULL,
        target_digest      TEXT NOT NULL,
        target_size        INTEGER NOT NULL,
        target_annotations TEXT NOT NULL DEFAULT '{}',
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        PRIMARY KEY (namespace, name)
      ) STRICT;
      CREATE INDEX images_by_target ON images(target_digest);
    `,
  },
  {
    name: 'containers',
    sql: `
      -- containerd's container records. The OCI spec, the runtime options and extensions are protobuf Any
      -- values, kept as their type URL and bytes so that what a client stored is what it reads back.
      CREATE TABLE containers (
        namespace            TEXT NOT NULL REFERENCES namespaces(name),
        id                   TEXT NOT NULL,
        labels               TEXT NOT NULL DEFAULT '{}',
        image                TEXT NOT NULL DEFAULT '',
        runtime_name         TEXT NOT NULL,
        runtime_options_type TEXT NOT NULL DEFAULT '',
        runtime_options      BLOB,
        spec_type            TEXT NOT NULL DEFAULT '',
        spec                 BLOB,
        snapshotter          TEXT NOT NULL DEFAULT '',
        snapshot_key         TEXT NOT NULL DEFAULT '',
        -- JSON: { "<name>": { "type_url": "...", "value": "<base64>" } }
        extensions           TEXT NOT NULL DEFAULT '{}',
        created_at           INTEGER NOT NULL,
        updated_at           INTEGER NOT NULL,
        PRIMARY KEY (namespace, id)
      ) STRICT;
    `,
  },
  {
    name: 'volumes',
    sql: `
      -- ctrd's volumes (docker's local driver). The data lives in the volume store's directory for
      -- (namespace, name); the row is written after the directory, and removed before it. lease: the lease
      -- of the client that made it, which holds it (as in use) until that lease goes.
      CREATE TABLE volumes (
        namespace  TEXT NOT NULL REFERENCES namespaces(name),
        name       TEXT NOT NULL,
        driver     TEXT NOT NULL DEFAULT 'local',
        labels     TEXT NOT NULL DEFAULT '{}',
        options    TEXT NOT NULL DEFAULT '{}',
        anonymous  INTEGER NOT NULL DEFAULT 0 CHECK (anonymous IN (0, 1)),
        lease      TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        PRIMARY KEY (namespace, name)
      ) STRICT;
    `,
  },
  {
    name: 'networks',
    sql: `
      -- ctrd's container networks (CNI bridge networks), the node's and not a namespace's.
      CREATE TABLE networks (
        id         TEXT NOT NULL PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        driver     TEXT NOT NULL DEFAULT 'bridge',
        subnet     TEXT NOT NULL,
        gateway    TEXT NOT NULL,
        bridge     TEXT NOT NULL UNIQUE,
        internal   INTEGER NOT NULL DEFAULT 0 CHECK (internal IN (0, 1)),
        options    TEXT NOT NULL DEFAULT '{}',
        labels     TEXT NOT NULL DEFAULT '{}',
        is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
        created_at INTEGER NOT NULL
      ) STRICT;
      -- A container's task joined to a network: ctrd's CNI cache. The row is written before CNI ADD runs
      -- (result '' until it has), with the conflist and capability arguments as given to ADD, so that DEL
      -- runs with exactly those, after a crash or a restart too; it goes once DEL has run.
      CREATE TABLE network_endpoints (
        namespace       TEXT NOT NULL,
        container_id    TEXT NOT NULL,
        network_id      TEXT NOT NULL REFERENCES networks(id),
        ifname          TEXT NOT NULL,
        netns           TEXT NOT NULL,
        aliases         TEXT NOT NULL DEFAULT '[]',
        ports           TEXT NOT NULL DEFAULT '[]',
        conflist        TEXT NOT NULL,
        capability_args TEXT NOT NULL DEFAULT '{}',
        result          TEXT NOT NULL DEFAULT '',
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (namespace, container_id, network_id)
      ) STRICT;
    `,
  },
  {
    name: 'build cache',
    sql: `
      -- The builder's layer cache: a step's result (the image config after it and every layer under it) by
      -- the step's key (its parent state, its instruction with resolved arguments and, for COPY and ADD, the
      -- checksum of what it copies). A row holds no reference for GC: it is dropped once a layer it names is
      -- gone, collected with the images built through it.
      -- No reference to the namespace: a namespace is emptied of what the cache names before it can go.
      CREATE TABLE build_cache (
        namespace  TEXT NOT NULL,
        key        TEXT NOT NULL,
        config     TEXT NOT NULL,
        layers     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        used_at    INTEGER NOT NULL,
        PRIMARY KEY (namespace, key)
      ) STRICT;
    `,
  },
];
