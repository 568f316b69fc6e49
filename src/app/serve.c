#include "app/commands.h"

int fc_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 0;
}
