using System.Globalization;
using System.Text;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Units;

namespace Recompute.Planner.Reporting;

/// <summary>How a plan treats a tensor, as the DOT output colours it.</summary>
public enum TensorRole
{
    /// <summary>Input, parameter or constant: always resident, not planned.</summary>
    Resident,
    /// <summary>Stored from its computation to the backward pass and never recomputed.</summary>
    Kept,
    /// <summary>A kept tensor from which recomputation restarts: an input of a recomputed tensor (a checkpoint on a block boundary).</summary>
    Boundary,
    /// <summary>Freed during the forward pass and computed again during backward.</summary>
    Recomputed,
    /// <summary>Freed during the forward pass and never needed again.</summary>
    Dropped,
}

/// <summary>
/// Writes a graph in Graphviz DOT with every tensor coloured by its role in a schedule: kept (blue),
/// boundary checkpoints (green), recomputed (orange), dropped (white) and resident inputs/parameters (grey).
/// Render with <c>dot -Tsvg plan.dot -o plan.svg</c>.
/// </summary>
public static class DotWriter
{
    /// <summary>Fill colour of each role.</summary>
    public static string ColourOf(TensorRole role) => role switch
    {
        TensorRole.Resident => "#d9d9d9",
        TensorRole.Kept => "#9ecae1",
        TensorRole.Boundary => "#74c476",
        TensorRole.Recomputed => "#fd8d3c",
        _ => "#ffffff",
    };

    /// <summary>The role of every graph node under a schedule (indexed by node id).</summary>
    public static TensorRole[] Roles(ComputationGraph graph, Schedule? schedule)
    {
        var roles = new TensorRole[graph.Count];
        for (int i = 0; i < graph.Count; i++) roles[i] = graph[i].IsPlanned ? TensorRole.Kept : TensorRole.Resident;
        if (schedule is null) return roles;
        var training = schedule.Training;
        var recomputed = new HashSet<int>(schedule.RecomputedNodes);
        // Values that are live when the first backward step runs were stored across the forward/backward turn.
        var live = new bool[training.Count];
        foreach (var step in schedule.Steps)
        {
            if (step.Kind == StepKind.Backward) break;
            if (step.Allocates) live[step.Task] = true;
            else if (step.Frees) live[step.Task] = false;
        }
        for (int i = 0; i < graph.Count; i++)
        {
            if (!graph[i].IsPlanned || graph[i].IsBackward) continue;
            int task = training.ForwardTaskOf(i);
            if (recomputed.Contains(i)) roles[i] = TensorRole.Recomputed;
            else if (task < 0 || !live[task]) roles[i] = TensorRole.Dropped;
        }
        foreach (int r in recomputed)
            foreach (int p in graph[r].Inputs)
                if (roles[p] == TensorRole.Kept) roles[p] = TensorRole.Boundary;
        return roles;
    }

    /// <summary>Writes the graph; with a null schedule every planned tensor is drawn as kept (store-all).</summary>
    public static void Write(ComputationGraph graph, Schedule? schedule, TextWriter writer)
    {
        var roles = Roles(graph, schedule);
        var sb = new StringBuilder();
        sb.Append("digraph ").Append(Quote(graph.Name)).Append(" {\n");
        sb.Append("  // kept: blue, boundary (checkpoint that recomputation starts from): green, recomputed: orange,\n");
        sb.Append("  // dropped after use: white, inputs/parameters/constants: grey\n");
        var title = schedule is null ? graph.Name : $"{graph.Name}: {schedule.Solver}" +
            (schedule.BudgetBytes is { } b ? $" at {ByteSize.Format(b)}" : "");
        sb.Append("  graph [rankdir=TB, fontname=\"DejaVu Sans\", label=").Append(Quote(title)).Append(", labelloc=t];\n");
        sb.Append("  node [shape=box, style=\"filled,rounded\", fontname=\"DejaVu Sans\", fontsize=10];\n");
        sb.Append("  edge [color=\"#555555\", arrowsize=0.6];\n");
        foreach (var n in graph.Nodes)
        {
            var role = roles[n.Id];
            var label = "\"" + Quote(n.Name)[1..^1] + "\\n" + Quote($"{n.Op} {ByteSize.Format(n.Bytes)}")[1..^1] + "\"";
            sb.Append("  n").Append(n.Id.ToString(CultureInfo.InvariantCulture))
              .Append(" [label=").Append(label)
              .Append(", fillcolor=\"").Append(ColourOf(role)).Append('"')
              .Append(", tooltip=").Append(Quote(role.ToString().ToLowerInvariant()));
            if (role == TensorRole.Resident) sb.Append(", shape=ellipse");
            sb.Append("];\n");
        }
        foreach (var n in graph.Nodes)
            foreach (var p in n.Inputs.Distinct())
                sb.Append("  n").Append(p.ToString(CultureInfo.InvariantCulture)).Append(" -> n")
                  .Append(n.Id.ToString(CultureInfo.InvariantCulture)).Append(";\n");
        sb.Append("}\n");
        writer.Write(sb.ToString());
    }

    /// <summary>Writes the DOT file atomically.</summary>
    public static void Write(ComputationGraph graph, Schedule? schedule, string path) =>
        AtomicFile.Write(path, w => Write(graph, schedule, w));

    /// <summary>A DOT double-quoted string: quotes and backslashes escaped, line breaks removed.</summary>
    internal static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            if (c is '"' or '\\') sb.Append('\\');
            if (c is '\n' or '\r') { sb.Append(' '); continue; }
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }
}
