using Recompute.Planner.Graph;

namespace Recompute.Tests.Support;

/// <summary>
/// The least recomputation over every schedule of a small training DAG, by exhaustive search: the ground truth that
/// any lower bound must not exceed. A state is the set of live buffers and the set of tasks run at least once; a move
/// runs a task whose inputs are live and whose output is not (memory: the live buffers plus its output, as the
/// simulator counts it; a run of a task that ran before costs its time) or frees a live buffer (free). Dijkstra from
/// nothing live and nothing run to every task run.
/// </summary>
public static class ExhaustiveSchedules
{
    /// <summary>The least recompute time of any schedule within <paramref name="budget"/>; null when none fits, or when
    /// the DAG has more than 20 tasks or the search visits more than <paramref name="maxStates"/> states.</summary>
    public static double? LeastRecompute(TrainingGraph training, long budget, int maxStates = 3_000_000)
    {
        var tasks = training.Tasks;
        int n = tasks.Length;
        if (n > 20) return null;
        var inputs = tasks.Select(t => t.Inputs.Aggregate(0, (m, i) => m | (1 << i))).ToArray();
        var bytes = tasks.Select(t => t.Bytes).ToArray();
        int all = (1 << n) - 1;
        var best = new Dictionary<long, double>();
        var queue = new PriorityQueue<(int Live, int Ran), double>();
        best[0] = 0;
        queue.Enqueue((0, 0), 0);
        while (queue.TryDequeue(out var state, out double cost))
        {
            long key = ((long)state.Live << 32) | (uint)state.Ran;
            if (best[key] < cost) continue;
            if (state.Ran == all) return cost;
            if (best.Count > maxStates) return null;
            long liveBytes = 0;
            for (int t = 0; t < n; t++) if ((state.Live >> t & 1) != 0) liveBytes += bytes[t];
            void Visit(int live, int ran, double c)
            {
                long k = ((long)live << 32) | (uint)ran;
                if (best.TryGetValue(k, out double known) && known <= c) return;
                best[k] = c;
                queue.Enqueue((live, ran), c);
            }
            for (int t = 0; t < n; t++)
            {
                int bit = 1 << t;
                if ((state.Live & bit) != 0)
                {
                    Visit(state.Live & ~bit, state.Ran, cost);
                    continue;
                }
                if ((inputs[t] & ~state.Live) != 0 || liveBytes + bytes[t] > budget) continue;
                Visit(state.Live | bit, state.Ran | bit, cost + ((state.Ran & bit) != 0 ? tasks[t].Time : 0));
            }
        }
        return null;
    }
}
