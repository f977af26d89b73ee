"""Shared by the tools/ scripts that write GGUF files: copy one metadata field from a gguf.GGUFReader
into a gguf.GGUFWriter, value type kept (arrays of strings or numbers, strings, scalars)."""
import gguf


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
