#include "app/commands.h"
int fc_cmd_bench(int argc, char **argv){(void)argc;(void)argv;return 1;}
