/* The command lines of serve, client and bench, each one table of options.
 *
 * A row names an option, its kind, where its value goes in the command's
 * options struct (an offset, so a row can be applied over any copy of the
 * struct: bench --compare does), its range or choices and its help text.
 * From the table come the getopt_long table, the range checks with the
 * error that names the flag and what it takes, and --help with each
 * option's default read from the defaults struct. Main thread. */
#ifndef FC_APP_OPTIONS_H
#define FC_APP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    FC_OPT_SECTION, /* no option: `help` is a heading printed as it is */
    FC_OPT_FLAG,    /* no value: sets a bool */
    FC_OPT_LONG,    /* a whole number in [min, max] into an int, unsigned, long or size_t */
    FC_OPT_DOUBLE,  /* a number in [min, max] */
    FC_OPT_STRING,  /* const char *, as given */
    FC_OPT_CHOICE,  /* one of `choices`: the const char * of the choice */
    FC_OPT_PARSE,   /* `parse` turns the value into the field */
    FC_OPT_LIST,    /* repeatable: appended to an fc_opt_list */
    FC_OPT_PAIR,    /* two values, this one and the next word: const char *[2] */
} fc_opt_kind;

#define FC_OPT_LIST_MAX 256

typedef struct fc_opt_list {
    const char *v[FC_OPT_LIST_MAX];
    int n;
} fc_opt_list;

typedef struct fc_option {
    fc_opt_kind kind;
    const char *name; /* "port" for --port */
    size_t off;       /* offsetof(the options struct, field) */
    size_t size;      /* FC_OPT_LONG: sizeof the field */
    double min, max;  /* FC_OPT_LONG, FC_OPT_DOUBLE */
    const char *arg;  /* in --help: "N", "WxH"; NULL for flags */
    const char *help; /* lines separated by '\n' */
    /* What the value must be, for the error: "a port number from 0 to
     * 65535". FC_OPT_CHOICE says its choices when NULL. */
    const char *want;
    const char *const *choices;               /* FC_OPT_CHOICE, NULL-terminated */
    int (*parse)(const char *v, void *field); /* FC_OPT_PARSE: 0, or nonzero: bad */
    /* In --help: the default when the field does not show it ("" = none). */
    const char *dflt;
    bool once; /* refused inside a nested parse (bench --compare strings) */
} fc_option;

/* A row for field `field` of options struct T; the rest are designators
 * (.min, .max, .arg, .help, .want, ...). */
#define FC_OPT_ROW(T, k, nm, field, ...)                                                           \
    {                                                                                              \
        .kind = (k), .name = (nm), .off = offsetof(T, field), .size = sizeof(((T *)0)->field),     \
        __VA_ARGS__                                                                                \
    }
#define FC_OPT_SECTION_ROW(text)                                                                   \
    {                                                                                              \
        .kind = FC_OPT_SECTION, .help = (text)                                                     \
    }

typedef struct fc_command_line {
    const char *cmd;   /* "serve": error messages say "framecast serve: ..." */
    const char *usage; /* the text --help prints above the options */
    const char *after; /* and below them; may be NULL */
    const fc_option *options;
    size_t count;
} fc_command_line;

/* Applies argv[1..] to `opts`. 0 done; 1 --help was printed (exit 0); 2 a
 * usage error was printed (exit 2). `nested_in` non-NULL: the words are an
 * option string given to that option, where `once` rows are refused. */
int fc_opts_parse(const fc_command_line *cl, int argc, char **argv, void *opts,
                  const char *nested_in);
/* Prints --help: usage, then every row with the default `defaults` holds. */
void fc_opts_help(const fc_command_line *cl, const void *defaults, FILE *out);

/* "framecast CMD: bad FLAG 'VALUE': WHY (see --help)"; returns 2. */
int fc_opts_bad(const char *cmd, const char *flag, const char *value, const char *why);
/* "framecast CMD: WHY (see --help)"; returns 2. */
int fc_opts_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parsers for FC_OPT_PARSE rows. */
int fc_opt_parse_size(const char *v, void *field);    /* "WxH" into int[2] */
int fc_opt_parse_quality(const char *v, void *field); /* "H,M,L", 1..100, into int[3] */

#endif
