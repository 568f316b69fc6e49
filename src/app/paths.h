/* Where framecast finds the files it ships: the web pages (the viewer and
 * the demo) and the face models.
 *
 * An installed framecast (meson install: PREFIX/bin/framecast) finds them
 * in PREFIX/share/framecast/{web,models}, located from the running binary,
 * so neither the working directory nor the install prefix matters; a
 * framecast run from its build tree finds them in the source tree it was
 * built from. Main thread, at start-up. */
#ifndef FC_APP_PATHS_H
#define FC_APP_PATHS_H

#define FC_DEFAULT_MODEL_FILE "blazeface-front-128.onnx"

typedef struct fc_paths {
    char web_root[4096];
    char model[4096]; /* the default face model */
} fc_paths;

void fc_paths_get(fc_paths *out);

#endif
