/* The schema, version by version. Invariants the file keeps whoever writes
 * it (framecast, or somebody with the sqlite3 shell):
 *   - PRAGMA application_id is FC_APP_ID and PRAGMA user_version the number
 *     of migrations applied; both change only inside the migration's write
 *     transaction, so a crash leaves the old schema or the new one.
 *   - Every stream id is 1-63 characters of A-Z a-z 0-9 . - _ and every
 *     setting is NULL (not set) or in its range (the same ranges as
 *     fc_store_row_check).
 *   - A quality row belongs to an existing stream and goes with it. */
#include "store/schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sql.h"

/* "FCst": tells framecast's files from other programs' SQLite files. */
#define FC_APP_ID 0x46437374

static int to_v1(sqlite3 *db)
{
    return sqlite3_exec(
        db,
        "CREATE TABLE streams ("
        "  id TEXT PRIMARY KEY NOT NULL"
        "    CHECK (length(id) BETWEEN 1 AND 63 AND id NOT GLOB '*[^A-Za-z0-9._-]*'),"
        "  spec TEXT NOT NULL CHECK (length(spec) BETWEEN 1 AND 2047),"
        "  encode_fps REAL CHECK (encode_fps > 0 AND encode_fps <= 240),"
        "  detect INTEGER CHECK (detect IN (0, 1)),"
        "  detect_fps REAL CHECK (detect_fps > 0 AND detect_fps <= 240),"
        "  created_at REAL NOT NULL,"
        "  updated_at REAL NOT NULL"
        ") STRICT;"
        "CREATE TABLE stream_quality ("
        "  stream_id TEXT NOT NULL REFERENCES streams(id) ON DELETE CASCADE,"
        "  tier TEXT NOT NULL CHECK (tier IN ('high', 'medium', 'low')),"
        "  quality INTEGER NOT NULL CHECK (quality BETWEEN 1 AND 100),"
        "  PRIMARY KEY (stream_id, tier)"
        ") STRICT, WITHOUT ROWID;",
        NULL, NULL, NULL);
}

/* migrations[i] takes the schema from version i to version i + 1. A new
 * version adds one function at the end and changes nothing else. */
static int (*const migrations[])(sqlite3 *db) = {to_v1};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof *migrations))

/* The first column of the first row of `sql` as text (or "" without a row). */
static int first_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    out[0] = '\0';
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int first_int(sqlite3 *db, const char *sql, long long *out)
{
    char text[32];
    int rc = first_text(db, sql, text, sizeof text);
    if (rc == SQLITE_OK) *out = strtoll(text, NULL, 10);
    return rc;
}

static int check_integrity(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char verdict[256];
    /* Reading anything first: a file that is not a database fails here. */
    int rc = first_text(db, "PRAGMA integrity_check(1)", verdict, sizeof verdict);
    if ((rc & 0xff) == SQLITE_CORRUPT)
        return fc_sql_fail(db, rc, path, "the database is corrupt", err, errlen);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return fc_sql_fail(db, rc, path, "not an SQLite database", err, errlen);
    if (rc != SQLITE_OK) return fc_sql_fail(db, rc, path, "reading it", err, errlen);
    if (strcmp(verdict, "ok") != 0) {
        /* SQLite's verdict comes in lines; a start-up error is one. */
        for (char *p = verdict; (p = strchr(p, '\n'));)
            *p = ' ';
        snprintf(err, errlen, "%s: the database is corrupt: %s", path, verdict);
        return -EBADMSG;
    }
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc != SQLITE_OK) return fc_sql_fail(db, rc, path, "checking foreign keys", err, errlen);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(err, errlen,
                 "%s: the database is inconsistent: a row of %s refers to a missing row of %s",
                 path, (const char *)sqlite3_column_text(st, 0),
                 (const char *)sqlite3_column_text(st, 2));
    int ret = rc == SQLITE_ROW    ? -EBADMSG
              : rc == SQLITE_DONE ? 0
                                  : fc_sql_fail(db, rc, path, "checking foreign keys", err, errlen);
    sqlite3_finalize(st);
    return ret;
}

static int set_modes(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char mode[32];
    int rc = first_text(db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
    if (rc != SQLITE_OK) return fc_sql_fail(db, rc, path, "switching to WAL", err, errlen);
    /* An in-memory database keeps its "memory" journal; a file must get WAL. */
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        snprintf(err, errlen, "%s: cannot use a WAL journal here (SQLite kept '%s')", path, mode);
        return -EIO;
    }
    rc = sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fc_sql_fail(db, rc, path, "setting it up", err, errlen);
}

/* Is this file ours, and how old is it? Asked before anything is written to
 * it, and again inside the migration's transaction (another process may have
 * migrated it in between). */
static int check_owner(sqlite3 *db, const char *path, long long *version, char *err, size_t errlen)
{
    long long app, objects;
    int rc = first_int(db, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK) rc = first_int(db, "PRAGMA user_version", version);
    if (rc == SQLITE_OK) rc = first_int(db, "SELECT count(*) FROM sqlite_schema", &objects);
    if (rc != SQLITE_OK)
        return fc_sql_fail(db, rc, path, "reading its schema version", err, errlen);
    if (app != FC_APP_ID && (app != 0 || *version != 0 || objects != 0)) {
        if (app == 0)
            snprintf(err, errlen,
                     "%s: an SQLite database that is not framecast's (it has tables but no "
                     "framecast schema); give another path",
                     path);
        else
            snprintf(err, errlen,
                     "%s: an SQLite database of another program (application_id %lld), not "
                     "framecast's; give another path",
                     path, app);
        return -EINVAL;
    }
    if (*version > SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "%s: schema version %lld is newer than this framecast's (%d); run a newer "
                 "framecast or give another path",
                 path, *version, SCHEMA_VERSION);
        return -EPROTO;
    }
    return 0;
}

static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return fc_sql_fail(db, rc, path, "opening it for writing", err, errlen);
    long long version;
    int ret = check_owner(db, path, &version, err, errlen);
    for (int v = (int)version; ret == 0 && v < SCHEMA_VERSION; v++) {
        rc = migrations[v](db);
        if (rc != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof what, "migrating the schema to version %d", v + 1);
            ret = fc_sql_fail(db, rc, path, what, err, errlen);
        }
    }
    if (ret == 0 && version < SCHEMA_VERSION) {
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%d", FC_APP_ID,
                 SCHEMA_VERSION);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            ret = fc_sql_fail(db, rc, path, "recording the schema version", err, errlen);
    }
    /* Committed even when nothing changed: taking the write lock and
     * committing proves now, not at the first POST, that the file and its
     * directory (for the -wal and -shm files) can be written. */
    if (ret == 0) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) ret = fc_sql_fail(db, rc, path, "committing", err, errlen);
    }
    if (ret != 0) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

int fc_store_schema_prepare(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    if (sqlite3_db_readonly(db, "main") == 1) {
        snprintf(err, errlen,
                 "%s: the database can only be read (check the permissions of the file and its "
                 "directory)",
                 path);
        return -EROFS;
    }
    long long version;
    int rc = check_integrity(db, path, err, errlen);
    if (rc == 0) rc = check_owner(db, path, &version, err, errlen);
    if (rc == 0) rc = set_modes(db, path, err, errlen);
    if (rc == 0) rc = migrate(db, path, err, errlen);
    return rc;
}
