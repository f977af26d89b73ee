"""Shared by the tools/ scripts that write GGUF files: copy one metadata field from a gguf.GGUFReader
into a gguf.GGUFWriter, value type kept (arrays of strings or numbers, strings, scalars); open a writer
for an all-F32 copy of a reader's model and finish it; the Hugging Face name of a llama.cpp qwen2 tensor."""
import gguf

GGUF_PROJ = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def hf_name(g):
    """llama.cpp's qwen2 tensor name -> the Hugging Face (Sentio schema) name."""
    top = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
           "output.weight": "lm_head.weight"}
    if g in top:
        return top[g]
    _, i, kind, wb = g.split(".")
    return f"model.layers.{i}.{GGUF_PROJ[kind]}.{wb}"


def copy_field(field, w):
    vt = field.types[0]
    if vt == gguf.GGUFValueType.ARRAY:
        if field.types[-1] == gguf.GGUFValueType.STRING:
            vals = [bytes(field.parts[i]).decode("utf-8", errors="surrogateescape") for i in field.data]
        else:
            vals = [field.parts[i].tolist()[0] for i in field.data]
        w.add_array(field.name, vals)
    elif vt == gguf.GGUFValueType.STRING:
        w.add_string(field.name, bytes(field.parts[field.data[0]]).decode("utf-8"))
    else:
        w.add_key_value(field.name, field.parts[field.data[0]].tolist()[0], vt)


def f32_writer_like(r, dst):
    """A GGUFWriter at dst with r's architecture and metadata (file type set to F32); add tensors, then finish()."""
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    w = gguf.GGUFWriter(dst, arch)
    for field in r.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
            continue
        copy_field(field, w)
    w.add_file_type(0)
    return w


def finish(w, dst):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", dst)
