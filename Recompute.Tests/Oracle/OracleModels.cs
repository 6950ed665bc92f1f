using Google.Protobuf;
using Recompute.Planner.Import.Onnx.Proto;

namespace Recompute.Tests.Oracle;

/// <summary>Edits of ONNX files for the oracle comparisons.</summary>
internal static class OracleModels
{
    /// <summary>
    /// Gives every Dropout a constant <c>training_mode = false</c> operand (and ratio 0.5 where it had none), so that it
    /// is the identity in both runtimes; returns how many Dropouts there were.
    /// </summary>
    public static int DisableDropout(string path)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var g = model.Graph;
        int count = 0;
        const string off = "oracle_dropout_training_mode_off", ratio = "oracle_dropout_ratio";
        foreach (var n in g.Node)
        {
            if (n.OpType != "Dropout") continue;
            count++;
            while (n.Input.Count < 3) n.Input.Add("");
            if (n.Input[1] == "") n.Input[1] = ratio;
            n.Input[2] = off;
        }
        if (count == 0) return 0;
        var f = new TensorProto { Name = off, DataType = 9 };
        f.Int32Data.Add(0);
        var r = new TensorProto { Name = ratio, DataType = 1 };
        r.FloatData.Add(0.5f);
        g.Initializer.Add(f);
        g.Initializer.Add(r);
        File.WriteAllBytes(path, model.ToByteArray());
        return count;
    }
}
