/* Subcommands of the framecast binary. Each takes argv with argv[0] being the
 * subcommand's name and returns the process exit code (0 ok, 1 failure,
 * 2 usage error). */
#ifndef FC_APP_COMMANDS_H
#define FC_APP_COMMANDS_H

int fc_cmd_serve(int argc, char **argv);
int fc_cmd_detect(int argc, char **argv);
int fc_cmd_client(int argc, char **argv);
int fc_cmd_bench(int argc, char **argv);
int fc_cmd_token(int argc, char **argv);

#endif
