/* Helpers the commands share for their command lines. Main thread. */
#ifndef FC_APP_CLI_H
#define FC_APP_CLI_H

/* Prints "framecast CMD: bad FLAG 'VALUE': WHY (see --help)"; returns 2, the
 * exit code for usage errors. */
int fc_cli_bad(const char *cmd, const char *flag, const char *value, const char *why);
/* Whole string as a number within [lo, hi]: 0, or -1. */
int fc_cli_long(const char *s, long lo, long hi, long *out);
int fc_cli_double(const char *s, double lo, double hi, double *out);

#endif
