using System.Text.Json;

using Recompute.Planner.Files;
namespace Recompute.Planner.Reporting;

/// <summary>Writes a <see cref="BudgetReport"/> as <c>report.json</c> (camelCase fields, nulls written out, stable order).</summary>
public static class ReportJson
{
    public static byte[] Serialize(BudgetReport report)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteBoolean("complete", report.Complete);
            WriteGraph(w, report.Graph);
            w.WriteNumber("storeAllPeakBytes", report.StoreAllPeakBytes);
            w.WriteNumber("minBudgetBytes", report.MinBudgetBytes);
            w.WriteString("minBudgetSolver", report.MinBudgetSolver);
            w.WriteStartArray("budgets");
            foreach (var b in report.Budgets) w.WriteNumberValue(b);
            w.WriteEndArray();
            w.WriteStartArray("series");
            foreach (var s in report.Series)
            {
                w.WriteStartObject();
                w.WriteString("name", s.Name);
                w.WriteString("solver", s.Solver);
                w.WriteString("objective", s.Objective.ToString().ToLowerInvariant());
                w.WriteBoolean("curve", s.IsCurve);
                if (Planning.SolverDescriptions.Of(s.Name) is { } sentence) w.WriteString("description", sentence);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("points");
            foreach (var p in report.Points) WritePoint(w, p);
            w.WriteEndArray();
            if (report.Timeline is { } t) WriteTimeline(w, t);
            else w.WriteNull("timeline");
            if (report.Guide is { } guide) WriteGuide(w, guide);
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    public static void Write(BudgetReport report, string path) => AtomicFile.WriteAllBytes(path, Serialize(report));

    private static void WriteGraph(Utf8JsonWriter w, GraphSummary g)
    {
        w.WriteStartObject("graph");
        w.WriteString("name", g.Name);
        if (g.Source is null) w.WriteNull("source"); else w.WriteString("source", g.Source);
        w.WriteString("timeUnit", g.TimeUnit);
        if (g.Device is { } device) w.WriteString("device", device);
        if (g.ActivationDType is { } dtype) w.WriteString("dtype", dtype);
        w.WriteNumber("nodes", g.Nodes);
        w.WriteNumber("edges", g.Edges);
        w.WriteNumber("plannedTensors", g.PlannedTensors);
        w.WriteNumber("activationBytes", g.ActivationBytes);
        w.WriteNumber("parameterBytes", g.ParameterBytes);
        w.WriteNumber("inputBytes", g.InputBytes);
        w.WriteNumber("constantBytes", g.ConstantBytes);
        if (g.LowerSets is { } n) w.WriteNumber("lowerSets", n); else w.WriteNull("lowerSets");
        w.WriteNumber("lowerSetLimit", g.LowerSetLimit);
        w.WriteStartObject("ops");
        foreach (var (op, count) in g.Ops) w.WriteNumber(op, count);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WritePoint(Utf8JsonWriter w, SweepPoint p)
    {
        w.WriteStartObject();
        w.WriteString("solver", p.Series);
        w.WriteNumber("budgetBytes", p.BudgetBytes);
        w.WriteBoolean("feasible", p.Feasible);
        w.WriteString("status", p.Status);
        Number(w, "peakBytes", p.PeakBytes);
        Number(w, "overhead", p.Overhead);
        Number(w, "forwardTime", p.ForwardTime);
        Number(w, "recomputeTime", p.RecomputeTime);
        w.WriteNumber("solveSeconds", p.SolveSeconds);
        Number(w, "gap", p.Gap);
        Number(w, "paperModelPeakBytes", p.PaperModelPeakBytes);
        w.WriteNumber("recomputedTensors", p.Recomputed);
        Number(w, "reusedFromBudgetBytes", p.ReusedFromBudgetBytes);
        if (p.Reason is null) w.WriteNull("reason"); else w.WriteString("reason", p.Reason);
        w.WriteEndObject();
    }

    private static void WriteTimeline(Utf8JsonWriter w, TimelineReport t)
    {
        w.WriteStartObject("timeline");
        w.WriteString("solver", t.Series);
        w.WriteNumber("budgetBytes", t.BudgetBytes);
        w.WriteBoolean("feasible", t.Feasible);
        Number(w, "peakBytes", t.PeakBytes);
        Number(w, "overhead", t.Overhead);
        w.WriteNumber("storeAllSteps", t.StoreAll.LiveBytes.Length);
        if (t.Plan is { } plan) w.WriteNumber("planSteps", plan.LiveBytes.Length); else w.WriteNull("planSteps");
        w.WriteStartArray("recomputedTensors");
        foreach (var name in t.RecomputedTensors) w.WriteStringValue(name);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteGuide(Utf8JsonWriter w, BudgetGuide g)
    {
        w.WriteStartObject("guide");
        w.WriteString("optimizer", MaxBatchFormat.Name(g.Optimizer));
        w.WriteNumber("optimizerStateCopies", BudgetGuide.StateCopies(g.Optimizer));
        if (g.Batch is { } b) w.WriteNumber("batch", b); else w.WriteNull("batch");
        w.WriteString("solver", g.Solver);
        w.WriteNumber("parameterBytes", g.ParameterBytes);
        w.WriteNumber("gradientBytes", g.GradientBytes);
        w.WriteNumber("optimizerStateBytes", g.OptimizerStateBytes);
        w.WriteNumber("inputBytes", g.InputBytes);
        w.WriteNumber("fixedBytes", g.FixedBytes);
        w.WriteNumber("smallestDeviceBytes", g.SmallestDeviceBytes);
        w.WriteNumber("maxOverhead", g.MaxOverhead);
        if (g.Recommended is { } r)
        {
            w.WriteStartObject("recommended");
            w.WriteString("solver", r.Series);
            w.WriteNumber("budgetBytes", r.BudgetBytes);
            Number(w, "peakBytes", r.PeakBytes);
            Number(w, "overhead", r.Overhead);
            w.WriteEndObject();
        }
        else w.WriteNull("recommended");
        if (g.NoBatchReason is null) w.WriteNull("noBatchReason"); else w.WriteString("noBatchReason", g.NoBatchReason);
        w.WriteStartArray("devices");
        foreach (var d in g.Devices)
        {
            w.WriteStartObject();
            w.WriteNumber("deviceBytes", d.DeviceBytes);
            w.WriteNumber("activationBudgetBytes", d.ActivationBudgetBytes);
            w.WriteBoolean("fits", d.Fits);
            if (d.Plan is null) w.WriteNull("plan"); else w.WriteString("plan", d.Plan);
            Number(w, "activationBytes", d.ActivationBytes);
            Number(w, "totalBytes", d.TotalBytes);
            Number(w, "overhead", d.Overhead);
            Number(w, "largestBatchStoreAll", d.LargestBatchStoreAll);
            Number(w, "largestBatch", d.LargestBatch);
            Number(w, "largestBatchOverhead", d.LargestBatchOverhead);
            Number(w, "offloadStepSeconds", d.OffloadStepSeconds);
            w.WriteBoolean("offloadOnly", d.OffloadOnly);
            if (d.Reason is null) w.WriteNull("reason"); else w.WriteString("reason", d.Reason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v) w.WriteNumber(name, v); else w.WriteNull(name);
    }

    private static void Number(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v)) w.WriteNumber(name, v); else w.WriteNull(name);
    }
}
