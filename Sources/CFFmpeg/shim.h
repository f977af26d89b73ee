#pragma once
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/tx.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

/* Macros Swift cannot import, wrapped as functions. */
static inline int sentio_averror(int e) { return AVERROR(e); }
static inline int sentio_averror_eof(void) { return AVERROR_EOF; }
static inline int64_t sentio_av_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVChannelLayout sentio_layout_mono(void) { AVChannelLayout l = AV_CHANNEL_LAYOUT_MONO; return l; }
