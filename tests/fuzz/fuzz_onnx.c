/* The ONNX loader through its public API: parse, check and translate a model
 * from memory, read back its inputs and outputs, free it. */
#include "analysis/nn/nn.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fc_nn_model *m;
    char err[512];
    if (fc_nn_model_load_buffer(data, size, "fuzz.onnx", &m, err, sizeof err) != 0) return 0;
    char buf[128];
    for (int i = 0; i < fc_nn_model_input_count(m); i++) {
        fc_nn_shape s;
        fc_nn_model_input_shape(m, i, &s);
        fc_nn_shape_str(&s, buf, sizeof buf);
        fc_nn_shape_elements(&s);
    }
    for (int i = 0; i < fc_nn_model_output_count(m); i++) {
        fc_nn_shape s;
        fc_nn_model_output_shape(m, i, &s);
        fc_nn_shape_str(&s, buf, sizeof buf);
    }
    fc_nn_model_free(m);
    return 0;
}
