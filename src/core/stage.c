#include "core/stage.h"

#include <stddef.h>

fc_job *fc_stage_submit(fc_stage *stage, fc_pool *pool, fc_job *job)
{
    stage->submitted++;
    if (!stage->busy) {
        stage->busy = true;
        fc_pool_submit(pool, job);
        return NULL;
    }
    fc_job *old = stage->pending;
    stage->pending = job;
    if (old) stage->coalesced++;
    return old;
}

bool fc_stage_claim(fc_stage *stage)
{
    if (stage->busy) return false;
    stage->busy = true;
    stage->submitted++;
    return true;
}

void fc_stage_finish(fc_stage *stage, fc_pool *pool)
{
    fc_job *next = stage->pending;
    stage->pending = NULL;
    if (next)
        fc_pool_submit(pool, next);
    else
        stage->busy = false;
}

fc_job *fc_stage_cancel_pending(fc_stage *stage)
{
    fc_job *job = stage->pending;
    stage->pending = NULL;
    return job;
}
