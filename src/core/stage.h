/* fc_stage: "latest wins" for one stage of one stream (render, encode of one
 * tier, inference...).
 *
 * At most one job of a stage runs at a time. A job submitted while the stage
 * is busy waits in the single pending slot; a newer one replaces it, so when
 * the stage frees up it works on the freshest input and never on a backlog.
 * Loop thread only. */
#ifndef FC_CORE_STAGE_H
#define FC_CORE_STAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/job.h"
#include "core/pool.h"

typedef struct fc_stage {
    bool busy;
    fc_job *pending;
    uint64_t submitted;
    uint64_t coalesced; /* jobs replaced before they ran */
} fc_stage;

/* Runs `job` now or parks it as the pending one. Returns the job it replaced
 * (the caller releases it; it never ran), or NULL. */
fc_job *fc_stage_submit(fc_stage *stage, fc_pool *pool, fc_job *job);
/* Marks an idle stage busy for work that runs outside the pool's queue (in
 * another job), as if its job had been submitted; false when the stage is
 * busy. fc_stage_finish ends it like any job. */
bool fc_stage_claim(fc_stage *stage);
/* Call from a job's `done`: starts the pending job if there is one. */
void fc_stage_finish(fc_stage *stage, fc_pool *pool);
/* Takes the pending job away without running it (shutdown), or NULL. */
fc_job *fc_stage_cancel_pending(fc_stage *stage);

#endif
