#include "store/sql.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int fc_sql_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE ? -EEXIST
                                                                                    : -EINVAL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EBADMSG;
    default:
        return -EIO;
    }
}

int fc_sql_fail(sqlite3 *db, int rc, const char *path, const char *what, char *err, size_t errlen)
{
    /* SQLite's "unable to open database file" does not say why; the OS does. */
    int os = db ? sqlite3_system_errno(db) : 0;
    const char *reason = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (os && ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR)) {
        snprintf(err, errlen, "%s: %s: %s (%s)", path, what, reason, strerror(os));
        return -os;
    }
    /* SQLite writes -wal and -shm files beside the database: a writable file
     * in a directory that is not is "read-only" too, which surprises. */
    const char *hint = (rc & 0xff) == SQLITE_READONLY
                           ? " (the file and its directory must both be writable: SQLite keeps "
                             "-wal and -shm files beside it)"
                           : "";
    snprintf(err, errlen, "%s: %s: %s%s", path, what, reason, hint);
    return fc_sql_errno(rc);
}
