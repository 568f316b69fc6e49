#include "app/options.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/source.h"

#define MAX_ROWS 64
#define HELP_COLUMN 22

int fc_opts_bad(const char *cmd, const char *flag, const char *value, const char *why)
{
    fprintf(stderr, "framecast %s: bad %s '%s': %s (see --help)\n", cmd, flag, value, why);
    return 2;
}

int fc_opts_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "framecast %s: %s (see --help)\n", cmd, msg);
    return 2;
}

int fc_opt_parse_size(const char *v, void *field)
{
    int *wh = field;
    return fc_size_parse(v, &wh[0], &wh[1]);
}

int fc_opt_parse_quality(const char *v, void *field)
{
    int q[3], end = 0;
    if (sscanf(v, "%d,%d,%d%n", &q[0], &q[1], &q[2], &end) != 3 || v[end]) return -1;
    for (int i = 0; i < 3; i++)
        if (q[i] < 1 || q[i] > 100) return -1;
    memcpy(field, q, sizeof q);
    return 0;
}

/* "a, b or c" from a choice list. */
static void choices_text(const char *const *choices, char *out, size_t outlen)
{
    size_t n = 0, count = 0;
    while (choices[count])
        count++;
    out[0] = '\0';
    for (size_t i = 0; i < count && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%s",
                              i == 0           ? ""
                              : i + 1 == count ? " or "
                                               : ", ",
                              choices[i]);
}

static int set_long(const fc_option *o, const char *v, void *field)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || (double)n < o->min || (double)n > o->max) return -1;
    if (o->size == sizeof(int))
        *(int *)field = (int)n; /* int or unsigned: the range keeps it positive */
    else
        *(long *)field = n; /* long or size_t */
    return 0;
}

static int set_double(const fc_option *o, const char *v, void *field)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d >= o->min && d <= o->max)) return -1;
    *(double *)field = d;
    return 0;
}

static int set_choice(const fc_option *o, const char *v, void *field)
{
    for (const char *const *c = o->choices; *c; c++) {
        if (strcmp(*c, v) == 0) {
            *(const char **)field = *c;
            return 0;
        }
    }
    return -1;
}

/* Stores one option's value; 0, or 2 with the error printed. */
static int apply(const fc_command_line *cl, const fc_option *o, const char *v, void *opts, int argc,
                 char **argv)
{
    void *field = (char *)opts + o->off;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", o->name);
    int rc = 0;
    switch (o->kind) {
    case FC_OPT_FLAG:
        *(bool *)field = true;
        return 0;
    case FC_OPT_STRING:
        *(const char **)field = v;
        return 0;
    case FC_OPT_LONG:
        rc = set_long(o, v, field);
        break;
    case FC_OPT_DOUBLE:
        rc = set_double(o, v, field);
        break;
    case FC_OPT_CHOICE:
        rc = set_choice(o, v, field);
        break;
    case FC_OPT_PARSE:
        rc = o->parse(v, field);
        break;
    case FC_OPT_LIST: {
        fc_opt_list *l = field;
        if (l->n == FC_OPT_LIST_MAX) return fc_opts_bad(cl->cmd, flag, v, o->want);
        l->v[l->n++] = v;
        return 0;
    }
    case FC_OPT_PAIR:
        /* getopt took the first; the second is the next word. */
        if (optind >= argc) return fc_opts_bad(cl->cmd, flag, v, o->want);
        ((const char **)field)[0] = v;
        ((const char **)field)[1] = argv[optind++];
        return 0;
    case FC_OPT_SECTION:
        break;
    }
    if (rc == 0) return 0;
    char want[200];
    if (o->want)
        snprintf(want, sizeof want, "%s", o->want);
    else
        choices_text(o->choices, want, sizeof want);
    return fc_opts_bad(cl->cmd, flag, v, want);
}

int fc_opts_parse(const fc_command_line *cl, int argc, char **argv, void *opts,
                  const char *nested_in)
{
    struct option longopts[MAX_ROWS + 2];
    size_t n = 0;
    for (size_t i = 0; i < cl->count && n < MAX_ROWS; i++) {
        const fc_option *o = &cl->options[i];
        if (o->kind == FC_OPT_SECTION) continue;
        longopts[n++] =
            (struct option){o->name, o->kind == FC_OPT_FLAG ? no_argument : required_argument, NULL,
                            (int)(256 + i)};
    }
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    opterr = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1;) {
        if (c == 'h' && !nested_in) {
            fc_opts_help(cl, opts, stdout);
            return 1;
        }
        const fc_option *o = c >= 256 ? &cl->options[c - 256] : NULL;
        if (nested_in && (c == 'h' || (o && o->once))) {
            fprintf(stderr, "framecast %s: '%s' cannot go inside %s\n", cl->cmd, argv[optind - 1],
                    nested_in);
            return 2;
        }
        if (c == ':') {
            fprintf(stderr, "framecast %s: option '%s' needs a value (see --help)\n", cl->cmd,
                    argv[optind - 1]);
            return 2;
        }
        if (!o) {
            fprintf(stderr, "framecast %s: unknown option '%s' (see --help)\n", cl->cmd,
                    argv[optind - 1]);
            return 2;
        }
        int rc = apply(cl, o, optarg, opts, argc, argv);
        if (rc != 0) return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "framecast %s: unexpected argument '%s' (see --help)\n", cl->cmd,
                argv[optind]);
        return 2;
    }
    return 0;
}

/* The default a row shows in --help, from the defaults struct; "" none. */
static void default_text(const fc_option *o, const void *defaults, char *out, size_t outlen)
{
    const void *field = (const char *)defaults + o->off;
    out[0] = '\0';
    if (o->dflt) {
        snprintf(out, outlen, "%s", o->dflt);
        return;
    }
    switch (o->kind) {
    case FC_OPT_LONG:
        snprintf(out, outlen, "%ld",
                 o->size == sizeof(int) ? (long)*(const int *)field : *(const long *)field);
        break;
    case FC_OPT_DOUBLE:
        snprintf(out, outlen, "%g", *(const double *)field);
        break;
    case FC_OPT_STRING:
    case FC_OPT_CHOICE:
        if (*(const char *const *)field) snprintf(out, outlen, "%s", *(const char *const *)field);
        break;
    default:
        break;
    }
}

void fc_opts_help(const fc_command_line *cl, const void *defaults, FILE *out)
{
    fputs(cl->usage, out);
    for (size_t i = 0; i < cl->count; i++) {
        const fc_option *o = &cl->options[i];
        if (o->kind == FC_OPT_SECTION) {
            fprintf(out, "%s\n", o->help);
            continue;
        }
        char head[80], dflt[1100];
        int w = snprintf(head, sizeof head, "  --%s%s%s", o->name, o->arg ? " " : "",
                         o->arg ? o->arg : "");
        default_text(o, defaults, dflt, sizeof dflt);
        fprintf(out, "%s%*s", head, w < HELP_COLUMN ? HELP_COLUMN - w : 2, "");
        /* Every line of the help but the first starts at the help column. */
        for (const char *p = o->help; *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(out, "%.*s", (int)len, p);
            if (!nl) break;
            fprintf(out, "\n%*s", HELP_COLUMN, "");
            p = nl + 1;
        }
        fprintf(out, "%s%s%s\n", dflt[0] ? " (default " : "", dflt, dflt[0] ? ")" : "");
    }
    fprintf(out, "  -h, --help          this text\n");
    if (cl->after) fputs(cl->after, out);
}
