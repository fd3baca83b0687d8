# scripts/bench/plot.gp: NAT-node clocks per packet, cloudnat vs cnat vs nat44-ed.
# gnuplot -e "datafile='plot.dat'; outfile='plot.png'; cols='2 3 4'" plot.gp
# plot.dat: scenario<TAB>cloudnat<TAB>cnat<TAB>nat44-ed (0 = not measured)
set terminal pngcairo size 1000,520 font ",10"
set output outfile
set datafile separator "\t"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "NAT node clocks / packet (log scale)"
set logscale y
set yrange [10:*]
set grid ytics
set xtics rotate by -20 noenhanced
set key top left
set title "cloudnat vs VPP cnat vs nat44-ed (64-byte TCP, pg streams)" noenhanced
# cols: the columns that have data, e.g. "2 3" (report.sh passes it)
if (!exists("cols")) cols = "2 3 4"
names = "cloudnat cnat nat44-ed"
plot for [c in cols] datafile using (column(int(c)) > 0 ? column(int(c)) : NaN):xtic(1) linecolor int(c) - 1 title word(names, int(c) - 1)
