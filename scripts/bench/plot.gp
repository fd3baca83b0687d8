# scripts/bench/plot.gp: NAT-node clocks per packet, cloudnat vs cnat vs nat44-ed.
# gnuplot -e "datafile='plot.dat'; outfile='plot.png'" plot.gp
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
plot datafile using ($2 > 0 ? $2 : NaN):xtic(1) title "cloudnat", \
     '' using ($3 > 0 ? $3 : NaN) title "cnat", \
     '' using ($4 > 0 ? $4 : NaN) title "nat44-ed"
