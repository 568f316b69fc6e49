#include <stdio.h>
#include <string.h>

#include "app/commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"serve", fc_cmd_serve, "run the video server (the default)"},
    {"detect", fc_cmd_detect, "detect faces in a PNG or JPEG picture"},
    {"client", fc_cmd_client, "subscribe N clients to a stream, validate and measure"},
    {"bench", fc_cmd_bench, "start a server, load it, report CPU, fps, latency"},
    {"token", fc_cmd_token, "print a viewer token that lets its holder watch one stream"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: framecast [COMMAND] [OPTIONS]\n\n"
                 "framecast streams live video sessions to WebSocket clients.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`framecast COMMAND --help` describes a command's options.\n"
                 "Without a command, the options are those of `serve`.\n\n"
                 "  -h, --help     this text\n"
                 "  -V, --version  print the version\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("framecast %s\n", FC_VERSION);
        return 0;
    }
    if (argc > 1 && argv[1][0] != '-') {
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "framecast: unknown command '%s' (see framecast --help)\n", argv[1]);
        return 2;
    }
    /* No command: options belong to serve. argv[0] stands in for its name. */
    return fc_cmd_serve(argc, argv);
}
